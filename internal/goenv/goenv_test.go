package goenv

import (
	"context"
	"errors"
	"os/exec"
	"reflect"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func TestParseProxyList(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    []Proxy
		wantErr bool
	}{
		{"http://a.test,direct", []Proxy{{URL: "http://a.test"}, {URL: "direct"}}, false},
		{"http://a.test|http://b.test/,off", []Proxy{{URL: "http://a.test", FallBackOnError: true}, {URL: "http://b.test"}, {URL: "off"}}, false},
		{"a.test", []Proxy{{URL: "https://a.test"}}, false},
		{"direct,http://ignored.test", []Proxy{{URL: "direct"}}, false},
		{" , ", nil, true},
		{"", nil, true},
		{"ftp://x.test", nil, true},
	} {
		got, err := ParseProxyList(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseProxyList(%q) err = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseProxyList(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestPatterns(t *testing.T) {
	e := Env{"GOPRIVATE": "corp.example.com,*.internal.test"}
	if !e.NoProxy("corp.example.com/x") || !e.NoSumDB("git.internal.test/y") {
		t.Error("GOPRIVATE should imply GONOPROXY and GONOSUMDB")
	}
	if e.NoProxy("github.com/x/y") {
		t.Error("public module matched GOPRIVATE")
	}
	e["GONOPROXY"] = "other.test" // set: overrides GOPRIVATE
	if e.NoProxy("corp.example.com/x") || !e.NoProxy("other.test/m") {
		t.Error("GONOPROXY should win over GOPRIVATE")
	}
	if !(Env{"GOSUMDB": "off"}).NoSumDB("any.test/m") {
		t.Error("GOSUMDB=off must skip the checksum database")
	}
}

func TestParseSumDB(t *testing.T) {
	db, err := ParseSumDB("")
	if err != nil || db.Key != DefaultSumDBKey || db.URL != "" {
		t.Fatalf("default: %+v, %v", db, err)
	}
	if _, err := ParseSumDB("off"); !errors.Is(err, ErrSumDBOff) {
		t.Errorf("off: err = %v", err)
	}
	skey, vkey, err := note.GenerateKey(nil, "sumdb.test")
	if err != nil {
		t.Fatal(err)
	}
	_ = skey
	db, err = ParseSumDB(vkey + " http://127.0.0.1:1/")
	if err != nil || db.Name != "sumdb.test" || db.URL != "http://127.0.0.1:1" {
		t.Errorf("custom: %+v, %v", db, err)
	}
	if _, err := ParseSumDB("not-a-key"); err == nil {
		t.Error("bad key accepted")
	}
}

func TestReadRealGo(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	t.Setenv("GOPRIVATE", "corp.example.com")
	t.Setenv("GONOPROXY", "")
	e, err := Read(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if e["GOROOT"] == "" || e["GOMODCACHE"] == "" {
		t.Errorf("go env -json missing GOROOT/GOMODCACHE: %v", e)
	}
	if e["GOPRIVATE"] != "corp.example.com" || e["GONOSUMDB"] != "corp.example.com" {
		t.Errorf("GOPRIVATE/GONOSUMDB = %q/%q", e["GOPRIVATE"], e["GONOSUMDB"])
	}
}
