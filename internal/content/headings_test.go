package content

import (
	"reflect"
	"testing"
)

func TestHeadings(t *testing.T) {
	t.Parallel()
	md := "# Title\r\n\r\nText.\r\n\r\n```\r\n# in a fence\r\n```\r\n\r\nSetext\r\n===\r\n\r\n   ### Indented ###\r\n\r\n    # code by indent is not parsed as such\r\n"
	want := []string{"Title", "Setext", "Indented"}
	if got := Headings(md); !reflect.DeepEqual(got, want) {
		t.Errorf("Headings = %q, want %q", got, want)
	}
	if got := Headings("no heading"); got != nil {
		t.Errorf("Headings of plain text = %q", got)
	}
}
