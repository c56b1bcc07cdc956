package doctor

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// SchemaVersion names the --json format. It changes only when a field is
// removed or changes meaning; new optional fields keep it.
const SchemaVersion = "pitstop-doctor/v1"

// JSONSchema is the JSON Schema of the --json output
// (internal/doctor/doc/report.schema.json).
//
//go:embed doc/report.schema.json
var JSONSchema []byte

// JSONReport is the --json document. See doc/report.schema.json.
type JSONReport struct {
	Schema     string      `json:"schema"`      // SchemaVersion
	Root       string      `json:"root"`        // "live" or the capture's path
	Started    time.Time   `json:"started"`     // RFC 3339
	DurationMS float64     `json:"duration_ms"` // the whole run
	Summary    JSONSummary `json:"summary"`
	Checks     []JSONCheck `json:"checks"` // in report order
}

// JSONSummary counts results by status and gives the exit code.
type JSONSummary struct {
	OK       int `json:"ok"`
	Warn     int `json:"warn"`
	Fail     int `json:"fail"`
	Skip     int `json:"skip"`
	ExitCode int `json:"exit_code"`
}

// JSONCheck is one result.
type JSONCheck struct {
	ID         string   `json:"id"`
	Section    string   `json:"section"`
	Title      string   `json:"title"`
	Status     Status   `json:"status"`
	Finding    string   `json:"finding"`
	Fix        string   `json:"fix,omitempty"`
	Details    []string `json:"details,omitempty"`
	DurationMS float64  `json:"duration_ms"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// JSON returns the report as its --json document.
func (r *Report) JSON() JSONReport {
	j := JSONReport{
		Schema:     SchemaVersion,
		Root:       r.Root,
		Started:    r.Started.UTC().Round(time.Millisecond),
		DurationMS: ms(r.Duration),
		Summary: JSONSummary{OK: r.Count(OK), Warn: r.Count(Warn), Fail: r.Count(Fail),
			Skip: r.Count(Skip), ExitCode: r.ExitCode()},
		Checks: make([]JSONCheck, len(r.Results)),
	}
	for i, res := range r.Results {
		j.Checks[i] = JSONCheck{ID: res.ID, Section: res.Section, Title: res.Title, Status: res.Status,
			Finding: res.Finding, Fix: res.Fix, Details: res.Details, DurationMS: ms(res.Duration)}
	}
	return j
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.JSON())
}

// TextOptions shape the human report.
type TextOptions struct {
	Color   bool // ANSI colours (only on a terminal)
	Verbose bool // print each result's details
}

const (
	ansiReset  = "\x1b[0m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiRed    = "\x1b[31m"
	ansiDim    = "\x1b[2m"
	ansiBold   = "\x1b[1m"
)

// Mark is the symbol the text report shows for a status.
func (s Status) Mark() string {
	switch s {
	case OK:
		return "✓"
	case Warn:
		return "!"
	case Fail:
		return "✗"
	}
	return "-"
}

func (s Status) color() string {
	switch s {
	case OK:
		return ansiGreen
	case Warn:
		return ansiYellow
	case Fail:
		return ansiRed
	}
	return ansiDim
}

// WriteText writes the human report: a heading per section, one line per
// check (mark, ID, finding), a fix line under each warning and failure,
// details with Verbose, and a summary line.
func (r *Report) WriteText(w io.Writer, opt TextOptions) error {
	paint := func(code, s string) string {
		if !opt.Color {
			return s
		}
		return code + s + ansiReset
	}
	width := 0
	for _, res := range r.Results {
		width = max(width, len(res.ID))
	}
	var b strings.Builder
	where := "this machine"
	if r.Root != "live" {
		where = "capture " + r.Root
	}
	fmt.Fprintf(&b, "pitstop doctor: %s\n", where)
	section := ""
	for _, res := range r.Results {
		if res.Section != section {
			section = res.Section
			fmt.Fprintf(&b, "\n%s\n", paint(ansiBold, section))
		}
		fmt.Fprintf(&b, "  %s %-*s  %s\n", paint(res.Status.color(), res.Status.Mark()), width, res.ID, oneLine(res.Finding))
		if res.Fix != "" && (res.Status == Warn || res.Status == Fail) {
			fmt.Fprintf(&b, "    %*s  fix: %s\n", width, "", oneLine(res.Fix))
		}
		if opt.Verbose {
			for _, d := range res.Details {
				fmt.Fprintf(&b, "    %*s  %s\n", width, "", paint(ansiDim, oneLine(d)))
			}
		}
	}
	fmt.Fprintf(&b, "\n%s\n", r.Summary())
	_, err := io.WriteString(w, b.String())
	return err
}

// Summary is the report's last line, e.g.
// "21 ok, 3 warnings, 0 failures, 6 skipped in 0.42 s".
func (r *Report) Summary() string {
	plural := func(n int, one, many string) string {
		if n == 1 {
			return fmt.Sprintf("%d %s", n, one)
		}
		return fmt.Sprintf("%d %s", n, many)
	}
	return fmt.Sprintf("%d ok, %s, %s, %d skipped in %.2f s",
		r.Count(OK), plural(r.Count(Warn), "warning", "warnings"), plural(r.Count(Fail), "failure", "failures"),
		r.Count(Skip), r.Duration.Seconds())
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// WriteList writes every check's ID, section and title, one a line.
func WriteList(w io.Writer, checks []Check) error {
	width := 0
	for _, c := range checks {
		width = max(width, len(c.ID))
	}
	var b strings.Builder
	for _, c := range checks {
		fmt.Fprintf(&b, "%-*s  %-8s %s\n", width, c.ID, c.Section, c.Title)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteListJSON writes the checks as a JSON array of {id, section, title}.
func WriteListJSON(w io.Writer, checks []Check) error {
	type item struct {
		ID      string `json:"id"`
		Section string `json:"section"`
		Title   string `json:"title"`
	}
	out := make([]item, len(checks))
	for i, c := range checks {
		out[i] = item{c.ID, c.Section, c.Title}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
