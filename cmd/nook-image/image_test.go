package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/nook-sandbox/nook/image"
)

// TestProgressTerminal renders progress as on a terminal: one line per
// layer, redrawn in place, with a bar while fetching.
func TestProgressTerminal(t *testing.T) {
	var buf bytes.Buffer
	p := &progressPrinter{w: &buf, tty: true}
	d1, d2 := "sha256:"+strings.Repeat("1", 64), "sha256:"+strings.Repeat("2", 64)
	p.event(image.Event{Index: 0, Count: 2, Digest: d1, Phase: "fetching", Total: 1000})
	p.event(image.Event{Index: 1, Count: 2, Digest: d2, Phase: "exists", Done: 50, Total: 50})
	p.last = time.Time{}
	p.event(image.Event{Index: 0, Count: 2, Digest: d1, Phase: "fetching", Done: 500, Total: 1000})
	p.event(image.Event{Index: 0, Count: 2, Digest: d1, Phase: "done", Total: 1000})
	p.finish()
	out := buf.String()
	for _, want := range []string{
		"\x1b[2K111111111111  fetching  [" + strings.Repeat(" ", 30) + "] 0 B / 1000 B\n",
		"\x1b[2K111111111111  fetching  [" + strings.Repeat("=", 15) + strings.Repeat(" ", 15) + "] 500 B / 1000 B\n",
		"\x1b[2K222222222222  exists    50 B\n",
		"\x1b[2A\x1b[2K111111111111  done      1000 B\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal progress lacks %q:\n%q", want, out)
		}
	}
}
