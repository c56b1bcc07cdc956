package goenv

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestEmptyProxyListNamesTheValue(t *testing.T) {
	_, err := ParseProxyList(" , | ")
	if err == nil || !strings.Contains(err.Error(), `GOPROXY " , | " contains no entries`) {
		t.Errorf("ParseProxyList(\" , | \") = %v, want the value named", err)
	}
}

// GOPROXY and GOSUMDB come from the environment and go env files: the
// parsers must never panic and must only return entries the go command
// would use.
func FuzzParseProxyList(f *testing.F) {
	for _, s := range []string{"https://proxy.lan/x,direct", "proxy.lan|off", "file:///srv/mods", ",,", "off", "http://[::1]:3000/", "a b", "%zz", "ftp://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		list, err := ParseProxyList(s)
		if err != nil {
			if list != nil || (strings.TrimSpace(s) == "" && !errors.Is(err, ErrNoProxy)) {
				t.Errorf("ParseProxyList(%q) = %v, %v", s, list, err)
			}
			return
		}
		if len(list) == 0 {
			t.Fatalf("ParseProxyList(%q): no entries and no error", s)
		}
		for i, p := range list {
			if p.Direct() || p.Off() {
				if i != len(list)-1 {
					t.Errorf("ParseProxyList(%q): %s is not last: %v", s, p.URL, list)
				}
				continue
			}
			u, err := url.Parse(p.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") {
				t.Errorf("ParseProxyList(%q): entry %q is not an http, https or file URL (%v)", s, p.URL, err)
			}
			if strings.ContainsAny(p.URL, ",|") {
				t.Errorf("ParseProxyList(%q): entry %q keeps a separator", s, p.URL)
			}
		}
	})
}

func FuzzParseSumDB(f *testing.F) {
	for _, s := range []string{"", "off", DefaultSumDBKey, DefaultSumDBKey + " http://127.0.0.1:1/", "a b c", "x+1+AAAA", "  "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		db, err := ParseSumDB(s)
		if err != nil {
			if db != (SumDB{}) {
				t.Errorf("ParseSumDB(%q) = %+v with error %v", s, db, err)
			}
			return
		}
		if db.Name == "" || db.Key == "" || !strings.HasPrefix(db.Key, db.Name+"+") {
			t.Errorf("ParseSumDB(%q) = %+v: key does not start with the name", s, db)
		}
		if strings.HasSuffix(db.URL, "/") {
			t.Errorf("ParseSumDB(%q): URL %q keeps its trailing slash", s, db.URL)
		}
	})
}
