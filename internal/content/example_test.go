package content_test

import (
	"fmt"
	"log"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/content"
)

func ExampleChunker_Chunk() {
	doc, err := content.PrepareDocument("", "guide.md", `---
title: Guide
---
# Install

Run the installer.

## Linux

`+"```sh\n# a comment, not a heading\napt install tool\n```", content.PrepareOptions{})
	if err != nil {
		log.Fatal(err)
	}
	chunker, err := content.NewChunker(content.ChunkerOptions{}) // 400/512/100/20 tokens
	if err != nil {
		log.Fatal(err)
	}
	sourceID := uuid.MustParse("00000000-0000-0000-0000-000000000001")
	chunks, err := chunker.Chunk(content.DocumentID(sourceID, doc.URL), doc.Content)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(doc.Title)
	for _, c := range chunks {
		fmt.Printf("%d %q %d tokens\n%s\n", c.Ordinal, c.Headers, c.Tokens, c.EmbedText())
	}
	// Output:
	// Guide
	// 0 ["Install"] 26 tokens
	// Install
	//
	// # Install
	//
	// Run the installer.
	//
	// ## Linux
	//
	// ```sh
	// # a comment, not a heading
	// apt install tool
	// ```
}
