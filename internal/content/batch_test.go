package content

import (
	"reflect"
	"testing"
)

func TestBatchBySize(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name            string
		sizes           []int
		maxItems, total int
		want            []Span
	}{
		{"empty", nil, 2, 10, nil},
		{"by count", []int{1, 1, 1, 1, 1}, 2, 0, []Span{{0, 2}, {2, 4}, {4, 5}}},
		{"by total", []int{4, 4, 4, 1}, 0, 8, []Span{{0, 2}, {2, 4}}},
		{"large item alone", []int{1, 20, 1}, 10, 8, []Span{{0, 1}, {1, 2}, {2, 3}}},
		{"large first item", []int{20, 1, 1}, 10, 8, []Span{{0, 1}, {1, 3}}},
		{"negative sizes count as zero", []int{-5, 3, 3}, 0, 6, []Span{{0, 3}}},
		{"no limits", []int{1, 2, 3}, 0, 0, []Span{{0, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := BatchBySize(tt.sizes, tt.maxItems, tt.total); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("BatchBySize(%v, %d, %d) = %v, want %v", tt.sizes, tt.maxItems, tt.total, got, tt.want)
			}
		})
	}
}

func TestBatchDefaults(t *testing.T) {
	t.Parallel()

	sizes := make([]int, 480)
	if got := BatchDocuments(sizes); len(got) != 3 || got[0].Len() != 200 || got[2].Len() != 80 {
		t.Errorf("BatchDocuments of 480 = %v, want 200/200/80", got)
	}
	tokens := []int{30_000, 30_000, 10}
	if got := BatchChunks(tokens); !reflect.DeepEqual(got, []Span{{0, 1}, {1, 3}}) {
		t.Errorf("BatchChunks = %v", got)
	}
}
