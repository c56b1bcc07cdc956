package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSchemaDocumentsReport: every field a real report's JSON holds is in
// docs/bench-schema.json, and every field the schema requires is there.
func TestSchemaDocumentsReport(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "bench-schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := quickReport(t).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	defs := schema["$defs"].(map[string]any)
	var check func(path string, s map[string]any, v any)
	check = func(path string, s map[string]any, v any) {
		if ref, ok := s["$ref"].(string); ok {
			s = defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		}
		switch x := v.(type) {
		case map[string]any:
			props, _ := s["properties"].(map[string]any)
			for k, sub := range x {
				ps, ok := props[k].(map[string]any)
				if !ok {
					t.Errorf("%s.%s is in the report but not in docs/bench-schema.json", path, k)
					continue
				}
				check(path+"."+k, ps, sub)
			}
			req, _ := s["required"].([]any)
			for _, r := range req {
				if _, ok := x[r.(string)]; !ok {
					t.Errorf("%s.%s: the schema requires it, the report lacks it", path, r)
				}
			}
		case []any:
			if items, ok := s["items"].(map[string]any); ok {
				for _, e := range x {
					check(path+"[]", items, e)
				}
			}
		}
	}
	check("report", schema, doc)
}
