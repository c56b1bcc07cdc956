package policy

import (
	"bytes"
	"strings"

	"github.com/BurntSushi/toml"
)

// locator finds where a key is in a policy file, for errors the TOML
// decoder cannot place (its positions name the last [[rule]] of an array
// of tables, not the one at fault).
type locator struct{ src []byte }

// find returns the line and column of the value of key in the table (idx
// >= 0: the idx'th [[table]]), or of the table's header when key is "" or
// absent; 0, 0 when the table is not in the file (the default table may
// be left out). Top-level keys are table "".
func (l locator) find(table string, idx int, key string) (line, col int) {
	cur, n := "", -1
	header := 0
	if table == "" {
		header = 1
	}
	for i, raw := range bytes.Split(l.src, []byte("\n")) {
		t := strings.TrimSpace(string(raw))
		switch {
		case strings.HasPrefix(t, "[["):
			name := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(strings.SplitN(strings.TrimPrefix(t, "[["), "]]", 2)[0]), "]]"))
			cur = "[[" + name
			if name == table {
				n++
				if n == idx {
					header = i + 1
				}
			}
			continue
		case strings.HasPrefix(t, "["):
			name := strings.TrimSpace(strings.SplitN(strings.TrimPrefix(t, "["), "]", 2)[0])
			cur = "[" + name
			if name == table && idx < 0 {
				header = i + 1
			}
			continue
		}
		inTable := table == "" && cur == "" ||
			idx < 0 && cur == "["+table ||
			idx >= 0 && cur == "[["+table && n == idx
		if !inTable || key == "" {
			continue
		}
		k, _, ok := strings.Cut(t, "=")
		if !ok || strings.Trim(strings.TrimSpace(k), `"'`) != key {
			continue
		}
		eq := bytes.IndexByte(raw, '=')
		c := eq + 1
		for c < len(raw) && (raw[c] == ' ' || raw[c] == '\t') {
			c++
		}
		return i + 1, c + 1
	}
	if header > 0 {
		return header, 1
	}
	return 0, 0
}

// key places an undecoded key such as rule.colour or default.x.
func (l locator) key(k toml.Key) (line, col int) {
	if len(k) == 1 {
		return l.findKeyName("", -1, k[0])
	}
	table, name := strings.Join(k[:len(k)-1], "."), k[len(k)-1]
	// For arrays of tables the decoder does not say which element: the
	// first that has the key is reported.
	for idx := 0; idx < 1000; idx++ {
		line, col = l.findKeyName(table, idx, name)
		if line == 0 {
			break
		}
		if col > 0 {
			return line, col
		}
	}
	return l.findKeyName(table, -1, name)
}

// findKeyName is find returning column 0 when only the header was found.
func (l locator) findKeyName(table string, idx int, key string) (int, int) {
	line, col := l.find(table, idx, key)
	h, _ := l.find(table, idx, "")
	if line == h && table != "" {
		return line, 0
	}
	return line, col
}
