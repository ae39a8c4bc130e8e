package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/nook-sandbox/nook/cmd/internal/cli"
	"github.com/nook-sandbox/nook/image"
	"github.com/nook-sandbox/nook/sandbox/cgroup"
)

// imageSubcommands is filled by each `nook image X` file, in its init
// function (image_bootstrap.go adds bootstrap from outside the store).
var imageSubcommands []func() *cobra.Command

func newImageCommand() *cobra.Command {
	cmd := cli.Image.Command()
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
	for _, add := range imageSubcommands {
		cmd.AddCommand(add())
	}
	return cmd
}

// openStore opens the store nook uses.
func openStore() (*image.Store, error) {
	return image.Open(image.DefaultRoot())
}

// shortID is the 12 hex digits that name an image to people.
func shortID(digest string) string {
	d := strings.TrimPrefix(digest, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	return d
}

// displayRef is a reference as people type it, or "<none>".
func displayRef(ref string) string {
	if ref == "" {
		return "<none>"
	}
	return image.Familiar(ref)
}

// progressPrinter renders image.Events: on a terminal one redrawn line per
// layer with a bar; otherwise one plain line per layer and phase.
type progressPrinter struct {
	w     io.Writer
	tty   bool
	lines []string
	drawn int
	last  time.Time
}

// newProgress renders to f.
func newProgress(f *os.File) *progressPrinter {
	return &progressPrinter{w: f, tty: isTerminal(f)}
}

func (p *progressPrinter) event(e image.Event) {
	if !p.tty {
		if e.Phase == "fetching" && e.Done > 0 {
			return
		}
		size := ""
		if e.Total > 0 {
			size = " (" + cgroup.FormatBytes(e.Total) + ")"
		}
		fmt.Fprintf(p.w, "layer %d/%d %s: %s%s\n", e.Index+1, e.Count, shortID(e.Digest), e.Phase, size)
		return
	}
	for len(p.lines) < e.Count {
		p.lines = append(p.lines, "")
	}
	p.lines[e.Index] = progressLine(e)
	if e.Phase == "fetching" && time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.redraw()
}

func (p *progressPrinter) redraw() {
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA", p.drawn)
	}
	for _, l := range p.lines {
		fmt.Fprintf(p.w, "\x1b[2K%s\n", l)
	}
	p.drawn = len(p.lines)
}

// finish draws the final state of every line.
func (p *progressPrinter) finish() {
	if p.tty && len(p.lines) > 0 {
		p.redraw()
	}
}

func progressLine(e image.Event) string {
	const width = 30
	bar := ""
	switch {
	case e.Phase == "fetching" && e.Total > 0:
		n := int(int64(width) * min(e.Done, e.Total) / e.Total)
		bar = fmt.Sprintf("[%s%s] %s / %s", strings.Repeat("=", n), strings.Repeat(" ", width-n), cgroup.FormatBytes(e.Done), cgroup.FormatBytes(e.Total))
	case e.Phase == "fetching":
		bar = cgroup.FormatBytes(e.Done)
	case e.Total > 0:
		bar = cgroup.FormatBytes(e.Total)
	}
	return fmt.Sprintf("%s  %-9s %s", shortID(e.Digest), e.Phase, bar)
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
