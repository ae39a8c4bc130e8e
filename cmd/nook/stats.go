package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/nook-sandbox/nook/sandbox/cgroup"
	"github.com/nook-sandbox/nook/sandbox/state"
)

func init() { subcommands = append(subcommands, newStatsCommand) }

func newStatsCommand() *cobra.Command {
	var format string
	var noStream bool
	cmd := &cobra.Command{
		Use:   "stats [APP|ID...]",
		Short: "Show running sandboxes' CPU, memory, process and I/O use",
		Long: `Show live resource use of running sandboxes (all of them, or those named),
read from their cgroups, refreshed every second until interrupted:

  ID                 instance id
  NAME               APP:N, as in nook ps
  CPU %              CPU time used over the last interval, in percent of
                     one core (150% is one and a half cores busy)
  MEM USAGE / LIMIT  memory in use and the limit ("-": none)
  MEM %              usage in percent of the limit ("-" without a limit)
  PIDS               processes and threads in the sandbox
  BLOCK I/O          bytes read / written to block devices

On a terminal the table is redrawn in place; otherwise a new table is
printed each second. --no-stream measures for half a second and prints
once. A sandbox without a cgroup (rootless on cgroup v1, say) shows "-".

--format json prints a JSON array per refresh (one per line when
streaming): id, ref (APP:N), app, cpuPercent, memPercent and the cgroup's raw
counters (cpuUsageNs, memoryUsage, memoryLimit, pids, pidsLimit,
ioReadBytes, ioWriteBytes, oomKills), or error when they cannot be read.`,
		Example: `  nook stats
  nook stats firefox
  nook stats --no-stream --format json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: use table or json", format)
			}
			return stats(os.Stdout, args, format == "json", !noStream, isTerminal(os.Stdout))
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().BoolVar(&noStream, "no-stream", false, "print once and exit")
	return cmd
}

// statsRow is one sandbox's line of nook stats.
type statsRow struct {
	ID         string  `json:"id"`
	Ref        string  `json:"ref"`
	App        string  `json:"app"`
	CPUPercent float64 `json:"cpuPercent"`
	MemPercent float64 `json:"memPercent"`
	*cgroup.Stats
	Error string `json:"error,omitempty"`
}

// stats samples the named sandboxes (all when names is empty) each
// interval and prints them.
func stats(w io.Writer, names []string, asJSON, stream, tty bool) error {
	prev := map[string]state.Sample{}
	interval := 500 * time.Millisecond
	measure := func() ([]statsRow, error) {
		live, err := liveRecords()
		if err != nil {
			return nil, err
		}
		if len(names) > 0 {
			var picked []*state.Record
			for _, n := range names {
				r, err := state.Match(live, n)
				if err != nil {
					return nil, err
				}
				picked = append(picked, r)
			}
			live = picked
		}
		rows := make([]statsRow, 0, len(live))
		next := map[string]state.Sample{}
		for _, r := range live {
			row := statsRow{ID: r.ID, Ref: r.Ref(), App: r.App}
			s, err := state.Measure(r)
			if err != nil {
				row.Error = err.Error()
			} else {
				next[r.ID] = s
				row.Stats = &s.Stats
				row.MemPercent = state.MemPercent(s.Stats)
				if p, ok := prev[r.ID]; ok {
					row.CPUPercent = state.CPUPercent(p, s)
				}
			}
			rows = append(rows, row)
		}
		prev = next
		return rows, nil
	}
	// The first sample only sets the baseline for CPU %.
	if _, err := measure(); err != nil {
		return err
	}
	for frame := 0; ; frame++ {
		time.Sleep(interval)
		interval = time.Second
		rows, err := measure()
		if err != nil {
			return err
		}
		switch {
		case asJSON && stream:
			b, err := json.Marshal(rows)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(w, "%s\n", b)
			if err != nil {
				return err
			}
		case asJSON:
			return writeJSON(w, rows)
		default:
			if stream && tty {
				// Home the cursor and clear the screen, as docker stats.
				fmt.Fprint(w, "\x1b[H\x1b[2J")
			} else if frame > 0 {
				fmt.Fprintln(w)
			}
			if err := writeStats(w, rows); err != nil {
				return err
			}
		}
		if !stream {
			return nil
		}
	}
}

func writeStats(w io.Writer, rows []statsRow) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tPIDS\tBLOCK I/O")
	for _, r := range rows {
		if r.Stats == nil {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\n", r.ID, r.Ref)
			continue
		}
		s := r.Stats
		limit, memPct := "-", "-"
		if s.MemoryLimit > 0 {
			limit, memPct = cgroup.FormatBytes(int64(s.MemoryLimit)), formatPercent(r.MemPercent)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s / %s\t%s\t%d\t%s / %s\n", r.ID, r.Ref, formatPercent(r.CPUPercent),
			cgroup.FormatBytes(int64(s.MemoryUsage)), limit, memPct, s.PIDs, cgroup.FormatBytes(int64(s.IOReadBytes)), cgroup.FormatBytes(int64(s.IOWriteBytes)))
	}
	return tw.Flush()
}

func formatPercent(p float64) string { return strconv.FormatFloat(p, 'f', 2, 64) + "%" }

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
