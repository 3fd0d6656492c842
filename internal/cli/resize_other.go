//go:build !unix

package cli

import "os"

// notifyResize does nothing where terminals send no resize signal; the
// status line keeps the width it started with.
func notifyResize(chan<- os.Signal) {}
