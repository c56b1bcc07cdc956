package doctor

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestProbeSingleFlight: concurrent callers of one probe of one Env share
// one run; another Env runs its own (there is no memo but the Env's).
func TestProbeSingleFlight(t *testing.T) {
	var runs atomic.Int32
	release := make(chan struct{})
	fn := func() (proxyAnswer, error) {
		runs.Add(1)
		<-release
		return proxyAnswer{Status: 200, MS: 7}, nil
	}
	a, b := testEnv(t), testEnv(t)
	a.replay, b.replay = false, false
	var wg sync.WaitGroup
	got := make([]proxyAnswer, 20)
	for i := range got {
		env := a
		if i%2 == 1 {
			env = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := Probe(env, "network.proxy:https://p", fn)
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		}()
	}
	time.Sleep(50 * time.Millisecond) // let every caller reach the probe
	close(release)
	wg.Wait()
	if n := runs.Load(); n != 2 {
		t.Errorf("%d runs for two Envs, want 2", n)
	}
	for i, v := range got {
		if v != (proxyAnswer{Status: 200, MS: 7}) {
			t.Errorf("caller %d got %+v", i, v)
		}
	}
	if p := a.Probes()["network.proxy:https://p"]; string(p.Value) != `{"status":200,"ms":7}` {
		t.Errorf("recorded %s", p.Value)
	}
}

// TestProbeErrors: a live probe's own error reaches its callers; a
// recorded error replays as its text; a panic in a probe is recorded and
// does not leave other callers waiting.
func TestProbeErrors(t *testing.T) {
	env := testEnv(t)
	env.replay = false
	sentinel := errors.New("boom")
	if _, err := Probe(env, "x", func() (int, error) { return 0, sentinel }); err != sentinel {
		t.Errorf("live error %v", err)
	}
	if _, err := Probe(env, "x", func() (int, error) { return 1, nil }); err != sentinel {
		t.Errorf("second call: %v (the probe must not run again)", err)
	}
	if p := env.Probes()["x"]; p.Err != "boom" || p.Value != nil {
		t.Errorf("recorded %+v", p)
	}
	replay := fakeHost{probes: env.Probes()}.build(t)
	if _, err := Probe(replay, "x", func() (int, error) { return 1, nil }); err == nil || err.Error() != "boom" {
		t.Errorf("replayed error %v", err)
	}
	if _, err := Probe(replay, "y", func() (int, error) { return 1, nil }); !errors.Is(err, ErrNoLiveHost) {
		t.Errorf("unrecorded probe: %v", err)
	}

	done := make(chan error)
	started := make(chan struct{})
	go func() {
		defer func() { recover() }()
		Probe(env, "p", func() (int, error) { close(started); time.Sleep(20 * time.Millisecond); panic("probe bug") })
	}()
	// The second caller comes once the probe runs (a fixed sleep let it
	// come first on a loaded machine, and run its own probe); it waits
	// for the panicking one or, later, finds its recorded error.
	<-started
	go func() {
		_, err := Probe(env, "p", func() (int, error) { return 1, nil })
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "probe bug") {
			t.Errorf("waiter got %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a waiter hangs after the probe panicked")
	}
}

// TestProbeDecodeErrors: a recorded value of the wrong type (here, the
// strings pitstop's version-1 captures held) is reported by the check
// that reads it, naming the probe, instead of being read as zero.
func TestProbeDecodeErrors(t *testing.T) {
	env := fakeHost{
		goenv: map[string]string{"GOPROXY": "https://proxy.example.test,direct", "GOSUMDB": ""},
		probes: map[string]ProbeResult{
			ProbePageSize: rec("16384"),
			"network.proxy:https://proxy.example.test": rec("status=200 ms=35"),
			ProbeNofile: rec("1048576 1048576"),
		},
	}.build(t)
	for id, want := range map[string]string{
		"board.pagesize": `recorded probe pagesize = "16384" not understood`,
		"network.proxy":  `recorded probe network.proxy:https://proxy.example.test = "status=200 ms=35" not understood`,
		"kernel.nofile":  `recorded probe rlimit.nofile = "1048576 1048576" not understood`,
	} {
		r := runCk(t, All(), id, env)
		if r.Status != Skip || !strings.Contains(r.Finding, want) {
			t.Errorf("%s: %s %q; want skip with %q", id, r.Status, r.Finding, want)
		}
	}
	_, err := Probe(env, ProbePageSize, func() (int, error) { return 4096, nil })
	var de *ProbeDecodeError
	if !errors.As(err, &de) || de.Name != ProbePageSize || !errors.Is(err, ErrNoLiveHost) || unrecorded(err) {
		t.Errorf("Probe = %v", err)
	}
}

// FuzzProbeDecode replays arbitrary recorded values into every probe type:
// each gives a value or a *ProbeDecodeError, never a panic.
func FuzzProbeDecode(f *testing.F) {
	for _, s := range []string{`{"status":200,"ms":3}`, `"status=200 ms=35"`, `[{"path":"/usr/bin/go"}]`, `16384`, `null`, `{"q":1}`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		env := fakeHost{probes: map[string]ProbeResult{"p": {Value: b}}}.build(t)
		check := func(err error) {
			var de *ProbeDecodeError
			if err != nil && !errors.As(err, &de) {
				t.Errorf("%s: %v", b, err)
			}
		}
		_, err := Probe(env, "p", func() (proxyAnswer, error) { return proxyAnswer{}, nil })
		check(err)
		_, err = Probe(env, "p", func() (sumdbAnswer, error) { return sumdbAnswer{}, nil })
		check(err)
		_, err = Probe(env, "p", func() (dnsResult, error) { return dnsResult{}, nil })
		check(err)
		_, err = Probe(env, "p", func() ([]installedGo, error) { return nil, nil })
		check(err)
		_, err = Probe(env, "p", func() (syscallAnswer, error) { return syscallAnswer{}, nil })
		check(err)
		_, err = Probe(env, "p", func() (int, error) { return 0, nil })
		check(err)
	})
}
