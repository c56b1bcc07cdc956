package doctor

import (
	"reflect"
	"testing"
)

func TestSplitQuoted(t *testing.T) {
	for in, want := range map[string][]string{
		`pitstop cache prog`:                   {"pitstop", "cache", "prog"},
		`"/opt/my tools/pitstop" cache  prog `: {"/opt/my tools/pitstop", "cache", "prog"},
		`'a b' c`:                              {"a b", "c"},
	} {
		if got, err := splitQuoted(in); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("splitQuoted(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := splitQuoted(`"open`); err == nil {
		t.Error("an unterminated quote was accepted")
	}
}

func TestCacheProgServer(t *testing.T) {
	env := func(string) string { return "http://from-env:3001" }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"/usr/bin/pitstop", "cache", "prog", "--server", "http://pi5:3001"}, "http://pi5:3001"},
		{[]string{"pitstop", "cache", "prog", "--server=http://pi5:3001"}, "http://pi5:3001"},
		{[]string{"pitstop", "cache", "prog"}, "http://from-env:3001"},
		{[]string{"other-prog", "--server", "http://x"}, ""},
	} {
		if got := cacheProgServer(tc.args, env); got != tc.want {
			t.Errorf("cacheProgServer(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}
