package store

// NearestChunksSQL exposes the vector query to the external tests, which
// check its plan.
var NearestChunksSQL = nearestChunksSQL

// SharedIndexPredicate exposes the shared index's predicate to the tests.
var SharedIndexPredicate = sharedIndexPredicate
