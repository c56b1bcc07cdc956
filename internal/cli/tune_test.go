package cli

import (
	"errors"
	"testing"

	"github.com/pitstop-go/pitstop/internal/tune"
)

// TestTuneErrorNamesFlags: the library's errors name no flags; the CLI
// adds them.
func TestTuneErrorNamesFlags(t *testing.T) {
	err := tuneError(tune.ErrNotRoot)
	if !errors.Is(err, tune.ErrNotRoot) || err.Error() != "changing sysctls needs root: run it with sudo (or use --dry-run to preview)" {
		t.Errorf("tuneError(ErrNotRoot) = %v", err)
	}
	var ee *ExitError
	if err := tuneError(&tune.UnknownProfileError{Name: "x"}); !errors.As(err, &ee) || ee.Code != 2 {
		t.Errorf("unknown profile: %v, want exit 2", err)
	}
}
