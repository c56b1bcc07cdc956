package tune

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Row is one setting as show reports it.
type Row struct {
	Kind Kind   `json:"kind"`
	Key  string `json:"key"`
	// Current is the live value ("" when unset or unknown; see Error).
	Current string `json:"current"`
	// Profile is the profile's value as written (">=N" only raises).
	Profile string `json:"profile"`
	// Target is what apply would write given Current.
	Target string `json:"target"`
	// Differs is true when apply would change the value.
	Differs bool   `json:"differs"`
	Reason  string `json:"reason"`
	From    string `json:"from"`
	Error   string `json:"error,omitempty"`
}

// Report is a profile with its rows.
type Report struct {
	Profile  string   `json:"profile"`
	Summary  string   `json:"summary"`
	Source   string   `json:"source"`
	Includes []string `json:"includes,omitempty"`
	Rows     []Row    `json:"settings"`
}

// Show compares the named profiles (all known ones when none is named)
// with the live values.
func (t *Tuner) Show(names ...string) ([]Report, error) {
	cat, err := t.Catalog()
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		names = cat.Names()
	}
	var out []Report
	for _, n := range names {
		p, err := cat.Profile(n)
		if err != nil {
			return nil, err
		}
		ss, err := cat.Resolve(n)
		if err != nil {
			return nil, err
		}
		r := Report{Profile: n, Summary: p.Summary, Source: p.Source, Includes: p.Includes}
		for _, s := range ss {
			row := Row{Kind: s.Kind, Key: s.Key, Profile: s.String(), Reason: s.Reason, From: s.Profile}
			if s.Kind == Limit {
				row.Current = t.currentLimit(s.Key)
				row.Target = s.Value
				row.Differs = row.Current != s.Value
			} else if cur, err := t.Get(s.Key); err != nil {
				row.Error = err.Error()
				row.Differs = true
			} else {
				row.Current = cur
				row.Target = fold(s.Target(cur))
				row.Differs = !s.Satisfied(cur)
			}
			r.Rows = append(r.Rows, row)
		}
		out = append(out, r)
	}
	return out, nil
}

// WriteReports prints reports as text: a '*' marks a setting apply would
// change; each reason follows on its own line.
func WriteReports(w io.Writer, reports []Report, asJSON bool) error {
	if asJSON {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		e.SetEscapeHTML(false)
		return e.Encode(reports)
	}
	for i, r := range reports {
		if i > 0 {
			fmt.Fprintln(w)
		}
		src := r.Source
		if len(r.Includes) > 0 {
			src += ", includes " + strings.Join(r.Includes, ", ")
		}
		fmt.Fprintf(w, "%s (%s): %s\n", r.Profile, src, r.Summary)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  \tSETTING\tCURRENT\tPROFILE\t")
		n := 0
		for _, row := range r.Rows {
			mark := " "
			if row.Differs {
				mark = "*"
				n++
			}
			key := row.Key
			if row.Kind == Limit {
				key = "limit " + key
			}
			cur := row.Current
			switch {
			case row.Error != "":
				cur = "(missing)"
			case cur == "":
				cur = "(unset)"
			}
			fmt.Fprintf(tw, "%s \t%s\t%s\t%s\t\n", mark, key, cur, row.Profile)
		}
		tw.Flush()
		for _, row := range r.Rows {
			if row.Error != "" {
				fmt.Fprintf(w, "  ! %s\n", row.Error)
			}
		}
		fmt.Fprintf(w, "  %d of %d differ (*); reasons:\n", n, len(r.Rows))
		for _, row := range r.Rows {
			from := ""
			if row.From != r.Profile {
				from = " [" + row.From + "]"
			}
			fmt.Fprintf(w, "  %s%s: %s\n", row.Key, from, orDefault(row.Reason, "(no reason given)"))
		}
	}
	return nil
}
