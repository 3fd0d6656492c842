package jobs_test

import "github.com/pgvector/pgvector-go"

func vector(v []float32) pgvector.Vector { return pgvector.NewVector(v) }
