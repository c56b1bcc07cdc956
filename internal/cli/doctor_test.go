package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/pitstop-go/pitstop/internal/tune"
)

// The doctor_*.txtar scripts find the committed captures in
// $DOCTOR_CAPTURES.
func init() {
	scriptSetups = append(scriptSetups, func(env *testscript.Env) error {
		dir, err := filepath.Abs(filepath.Join("..", "doctor", "testdata"))
		if err != nil {
			return err
		}
		env.Setenv("DOCTOR_CAPTURES", dir)
		return nil
	})
}

func TestDoctorExitCodes(t *testing.T) {
	capture := filepath.Join("..", "doctor", "testdata")
	for _, tt := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"doctor", "--list"}, 0, ""},
		{[]string{"doctor", "--root", filepath.Join(capture, "pi5-nvme.tar.gz"), "--only", "board,storage"}, 0, ""},
		{[]string{"doctor", "--root", filepath.Join(capture, "pi5-sd.tar.gz"), "--only", "board.throttle"}, 1, ""},
		{[]string{"doctor", "--root", filepath.Join(capture, "pi4-32bit.tar.gz"), "--only", "go.shadow"}, 2, ""},
		{[]string{"doctor", "--root", filepath.Join(t.TempDir(), "missing.tar.gz")}, 2, "--root"},
		{[]string{"doctor", "--only", "board.nope"}, 2, `unknown check "board.nope"`},
		{[]string{"doctor", "--color", "purple", "--list"}, 2, "--color"},
		{[]string{"doctor", "--no-such-flag"}, 2, "unknown flag"},
		{[]string{"doctor", "extra-arg"}, 2, "unknown command"},
	} {
		var stdout, stderr bytes.Buffer
		code := Main(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr)
		if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
			t.Errorf("pitstop %s: exit %d, stderr %q; want %d and %q", strings.Join(tt.args, " "), code, stderr.String(), tt.code, tt.stderr)
		}
		if tt.code == 2 && tt.stderr != "" && strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
			t.Errorf("pitstop %s: error is not one line: %q", strings.Join(tt.args, " "), stderr.String())
		}
	}
}

// TestDoctorLive runs the sections that need no network on this machine:
// they must all produce a verdict, none may crash or time out.
func TestDoctorLive(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"doctor", "--json", "--only", "board,storage,kernel"}, strings.NewReader(""), &stdout, &stderr)
	if code == 2 {
		t.Logf("failures on this machine:\n%s", stdout.String())
	}
	var rep struct {
		Summary struct {
			ExitCode int `json:"exit_code"`
		}
		Checks []struct{ ID, Status, Finding string }
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("--json: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if rep.Summary.ExitCode != code || len(rep.Checks) < 15 {
		t.Errorf("exit %d, summary says %d, %d checks", code, rep.Summary.ExitCode, len(rep.Checks))
	}
	for _, c := range rep.Checks {
		if c.Status == "" || c.Finding == "" || strings.Contains(c.Finding, "crashed") || strings.Contains(c.Finding, "did not finish") {
			t.Errorf("%s: %s %q", c.ID, c.Status, c.Finding)
		}
	}
}

// TestDoctorHandedIn: the doctor's kernel findings name the values of
// tune's go-server profile and its storage findings pitstop ramdisk, both
// handed in by the wiring (the doctor imports neither).
func TestDoctorHandedIn(t *testing.T) {
	capture := filepath.Join("..", "doctor", "testdata", "pi5-sd.tar.gz")
	var stdout, stderr bytes.Buffer
	Main(context.Background(), []string{"doctor", "--json", "--root", capture, "--only", "kernel.somaxconn,kernel.tcp_slow_start_after_idle,storage.gocache"},
		strings.NewReader(""), &stdout, &stderr)
	var rep struct {
		Checks []struct{ ID, Finding, Fix string }
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s%s", err, stdout.String(), stderr.String())
	}
	rec := tune.Recommended("go-server")
	want := map[string]string{
		"kernel.somaxconn":                 "the go-server profile sets " + rec["net.core.somaxconn"].Value,
		"kernel.tcp_slow_start_after_idle": "pitstop tune apply go-server",
		"storage.gocache":                  "in RAM: pitstop ramdisk is active",
	}
	if rec["net.core.somaxconn"].Value == "" {
		t.Fatal("tune's go-server profile sets no net.core.somaxconn")
	}
	for _, c := range rep.Checks {
		if w, ok := want[c.ID]; ok {
			if !strings.Contains(c.Finding+" | "+c.Fix, w) {
				t.Errorf("%s: %q | %q lacks %q", c.ID, c.Finding, c.Fix, w)
			}
			delete(want, c.ID)
		}
	}
	for id := range want {
		t.Errorf("%s: no result", id)
	}
}
