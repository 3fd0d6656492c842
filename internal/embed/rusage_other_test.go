//go:build !linux

package embed

// rusageThread falls back to the whole process where Linux's
// RUSAGE_THREAD does not exist.
const rusageThread = 0
