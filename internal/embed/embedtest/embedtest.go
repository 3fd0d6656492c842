// Package embedtest speaks the wire format of an OpenAI-compatible
// /v1/embeddings endpoint, for the fake providers of tests in other
// packages (a worker's embedding jobs held or gated by a test).
package embedtest

import (
	"encoding/json"
	"net/http"
)

// Request is a decoded embeddings request.
type Request struct {
	Input      []string `json:"input"`
	Model      string   `json:"model"`
	Dimensions int      `json:"dimensions"`
}

// ReadRequest decodes the request of r. When it is not one, it answers
// 400 with an OpenAI error body and reports false.
func ReadRequest(w http.ResponseWriter, r *http.Request) (Request, bool) {
	var req Request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Dimensions <= 0 {
		http.Error(w, `{"error":{"message":"want a JSON body with input, model and dimensions","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return req, false
	}
	return req, true
}

// WriteResponse answers req with one vector of req.Dimensions per input:
// the unit vector of axis i modulo the dimensions for input i.
func WriteResponse(w http.ResponseWriter, req Request) {
	type item struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	out := struct {
		Object string `json:"object"`
		Data   []item `json:"data"`
		Model  string `json:"model"`
	}{Object: "list", Model: req.Model}
	for i := range req.Input {
		v := make([]float32, req.Dimensions)
		v[i%req.Dimensions] = 1
		out.Data = append(out.Data, item{Object: "embedding", Index: i, Embedding: v})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
