package embed

// rusageThread is RUSAGE_THREAD: getrusage for the calling thread only.
const rusageThread = 1
