// Package lifecycle owns the lifecycle of a source: the names of its stages,
// of its documents' statuses and of the pipeline's job kinds, and every
// transition of a source's stage and generation. Nothing else writes
// sources.stage or sources.generation: internal/ingest, the jobs, the API
// and the CLI call the transitions here.
//
// Each transition is one SQL statement (db/queries/sources.sql) that carries
// its own guard, `WHERE id = $1 AND stage IN (...)` and, for a job's
// transitions, `AND generation = $2`; it reports whether it applied. No row
// means someone else won (a racing retry, a delete, a newer generation), so
// there is never a read in Go followed by a write decided on that read.
// Transitions lists the table that the statements implement; the tests
// check every statement against it.
//
// The package sits just above internal/store (it calls the generated
// queries) and below everything that changes a source. store does not
// import it: the SQL spells the stage names as literals, the generated
// types carry them as strings, and the queries over River's tables take the
// job kinds as arguments.
package lifecycle

import (
	"slices"

	"github.com/kollektiv/kollektiv/internal/store"
)

// Stage is where a source's current generation is in the pipeline; each
// stage is also the name of the event that announces it.
type Stage string

// The stages, in pipeline order, and the progress event.
const (
	StageCreated Stage = "created"
	// StageCrawling: a URL source's pages are being fetched by its
	// crawl_source job; created follows once they are stored.
	StageCrawling            Stage = "crawling"
	StageProcessingScheduled Stage = "processing_scheduled"
	StageChunksGenerated     Stage = "chunks_generated"
	StageSummaryGenerated    Stage = "summary_generated"
	StageCompleted           Stage = "completed"
	StageFailed              Stage = "failed"
	// StageProgress names the progress events of a generation; no source
	// is ever at this stage.
	StageProgress Stage = "progress"
)

// Stages lists every event stage in pipeline order, progress last.
func Stages() []Stage {
	return []Stage{StageCrawling, StageCreated, StageProcessingScheduled, StageChunksGenerated, StageSummaryGenerated,
		StageCompleted, StageFailed, StageProgress}
}

// SourceStages lists the stages a source row can be at (sources.stage):
// summary_generated and progress are events only.
func SourceStages() []Stage {
	return []Stage{StageCreated, StageCrawling, StageProcessingScheduled, StageChunksGenerated, StageCompleted, StageFailed}
}

// Valid reports whether s is one of the event stages.
func (s Stage) Valid() bool { return slices.Contains(Stages(), s) }

// Terminal reports whether s ends a generation.
func (s Stage) Terminal() bool { return s == StageCompleted || s == StageFailed }

// StageOf returns the stage source is at.
func StageOf(source store.Source) Stage { return Stage(source.Stage) }

// DocumentStatus is where one document is in its source's pipeline.
type DocumentStatus string

// The document statuses: pending until chunked, chunked until its chunks
// have vectors, embedded when searchable; failed with a reason.
const (
	DocumentPending  DocumentStatus = "pending"
	DocumentChunked  DocumentStatus = "chunked"
	DocumentEmbedded DocumentStatus = "embedded"
	DocumentFailed   DocumentStatus = "failed"
)

// JobKind is the River kind of a pipeline job.
type JobKind string

// The pipeline's job kinds, in pipeline order.
const (
	KindProcessDocuments      JobKind = "process_documents"
	KindChunkDocumentsBatch   JobKind = "chunk_documents_batch"
	KindPersistChunks         JobKind = "persist_chunks"
	KindCheckChunkingComplete JobKind = "check_chunking_complete"
	KindGenerateSummary       JobKind = "generate_summary"
	KindPublishEvent          JobKind = "publish_event"
	// KindCrawlSource fetches a URL source's pages before process_documents.
	KindCrawlSource JobKind = "crawl_source"
)

// BatchJobKinds are the kinds whose completion the fan-in counts.
func BatchJobKinds() []string {
	return []string{string(KindChunkDocumentsBatch), string(KindPersistChunks)}
}

// Transition names one change of a source's stage.
type Transition string

// The transitions.
const (
	// TransitionCreate inserts a source at created, generation 1.
	TransitionCreate Transition = "create"
	// TransitionStartGeneration starts the next generation of a finished source for
	// a refresh: back to created.
	TransitionStartGeneration Transition = "start_generation"
	// TransitionStartRetry starts the next generation of a finished source that has
	// something to retry (it failed, or has documents that failed after
	// they were loaded).
	TransitionStartRetry Transition = "start_retry"
	// TransitionStartCrawl: a URL source's new generation goes from created
	// to crawling, with its crawl_source job.
	TransitionStartCrawl Transition = "start_crawl"
	// TransitionFinishCrawl: the crawl's pages are stored; back to created,
	// from which process_documents takes over.
	TransitionFinishCrawl Transition = "finish_crawl"
	// TransitionScheduleProcessing: process_documents has split the generation into
	// batch jobs.
	TransitionScheduleProcessing Transition = "schedule_processing"
	// TransitionMarkChunksGenerated: every batch job of the generation is done.
	TransitionMarkChunksGenerated Transition = "mark_chunks_generated"
	// TransitionComplete: the summary is stored; the generation is done.
	TransitionComplete Transition = "complete"
	// TransitionFail ends a running generation with a reason.
	TransitionFail Transition = "fail"
	// TransitionDelete removes the source, from any stage.
	TransitionDelete Transition = "delete"
)

// Rule is one row of the transition table.
type Rule struct {
	Transition Transition
	// From are the stages the transition leaves from; nil for Create (no
	// row yet).
	From []Stage
	// To is the stage after it; "" for Delete (no row after).
	To Stage
	// SameGeneration is true for the pipeline's transitions, which also
	// need the job's generation to be the source's.
	SameGeneration bool
}

// Transitions is the table of every transition a source can take. Any
// transition from a stage not listed is refused.
func Transitions() []Rule {
	finished := []Stage{StageCompleted, StageFailed}
	return []Rule{
		{Transition: TransitionCreate, To: StageCreated},
		{Transition: TransitionStartGeneration, From: finished, To: StageCreated},
		{Transition: TransitionStartRetry, From: finished, To: StageCreated},
		{Transition: TransitionStartCrawl, From: []Stage{StageCreated}, To: StageCrawling, SameGeneration: true},
		{Transition: TransitionFinishCrawl, From: []Stage{StageCrawling}, To: StageCreated, SameGeneration: true},
		{Transition: TransitionScheduleProcessing, From: []Stage{StageCreated}, To: StageProcessingScheduled, SameGeneration: true},
		{Transition: TransitionMarkChunksGenerated, From: []Stage{StageProcessingScheduled}, To: StageChunksGenerated, SameGeneration: true},
		{Transition: TransitionComplete, From: []Stage{StageChunksGenerated}, To: StageCompleted, SameGeneration: true},
		{Transition: TransitionFail, From: []Stage{StageCreated, StageCrawling, StageProcessingScheduled, StageChunksGenerated}, To: StageFailed, SameGeneration: true},
		{Transition: TransitionDelete, From: SourceStages()},
	}
}
