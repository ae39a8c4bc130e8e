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

	"github.com/nook-sandbox/nook/sandbox/cgroup"
	"github.com/nook-sandbox/nook/sandbox/state"
)

func init() { subcommands = append(subcommands, newPsCommand) }

func newPsCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List running sandboxes",
		Long: `List the sandboxes that are running, one line each:

  ID       instance id (12 hex digits); a unique prefix of 3 or more
           digits also names the sandbox
  NAME     APP:N, the app and the number of this instance of it (the
           smallest number free when it started)
  PID      host pid of the app ("-" while it starts)
  UPTIME   time since the sandbox started
  MEMORY   memory limit ("-": none)
  CPUS     CPU quota in cores ("-": none)
  PIDS     process limit ("-": none)

nook reads the state records under /run/nook (root),
$XDG_RUNTIME_DIR/nook, /run/user/UID/nook or /tmp/nook-UID (see 'nook gc').
Records of sandboxes whose nook died are removed on the way.

--format json prints a JSON array of the records (id, app, name, version,
seq, launcher and init pids with start times, started, limits, cgroup),
each with ref (APP:N), appPid (0 while the app starts) and uptimeSeconds
added.`,
		Example: `  nook ps
  nook ps --format json | jq -r '.[] | select(.name == "firefox") | .id'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: use table or json", format)
			}
			live, err := liveRecords()
			if err != nil {
				return err
			}
			rows := make([]psRow, len(live))
			now := time.Now()
			for i, r := range live {
				rows[i] = psRow{r, r.Ref(), state.AppPID(r.Init), int64(r.Uptime(now).Seconds())}
			}
			if format == "json" {
				return writeJSON(os.Stdout, rows)
			}
			return writePs(os.Stdout, rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

// psRow is one running sandbox as nook ps shows it.
type psRow struct {
	*state.Record
	Ref           string `json:"ref"` // APP:N
	AppPID        int    `json:"appPid"`
	UptimeSeconds int64  `json:"uptimeSeconds"`
}

func writeJSON(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

func writePs(w io.Writer, rows []psRow) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tPID\tUPTIME\tMEMORY\tCPUS\tPIDS")
	for _, r := range rows {
		l := r.Limits
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Ref, orDash(int64(r.AppPID)),
			formatDuration(time.Duration(r.UptimeSeconds)*time.Second),
			formatBytesOrDash(l.Memory), formatCPUs(l.CPUs()), orDash(l.PIDs))
	}
	return tw.Flush()
}

func orDash(n int64) string {
	if n <= 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

func formatBytesOrDash(n int64) string {
	if n <= 0 {
		return "-"
	}
	return cgroup.FormatBytes(n)
}

func formatCPUs(c float64) string {
	if c <= 0 {
		return "-"
	}
	return strconv.FormatFloat(c, 'f', -1, 64)
}

// formatDuration prints an uptime the way people read it: "45s", "12m3s",
// "3h4m", "2d5h".
func formatDuration(d time.Duration) string {
	s := max(int64(d.Seconds()), 0)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%dh", s/86400, s%86400/3600)
}
