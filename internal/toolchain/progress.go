package toolchain

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pitstop-go/pitstop/internal/units"
)

// ProgressBar returns a progress callback that redraws one line on w (a
// terminal) at most ten times a second, with the speed and, when the total
// is known, the time left; and a function that ends the line.
func ProgressBar(w io.Writer, label string) (progress func(written, total int64), done func()) {
	return progressBar(w, label, time.Now)
}

// speedWindow is how far back the speed is measured: long enough to smooth
// a bursty connection, short enough to follow a change (and to forget the
// burst of a resumed download's kept bytes).
const speedWindow = 3 * time.Second

type sample struct {
	at time.Time
	n  int64
}

func progressBar(w io.Writer, label string, now func() time.Time) (progress func(written, total int64), done func()) {
	var last time.Time
	var window []sample
	drawn := false
	draw := func(written, total int64, t time.Time) {
		const width = 30
		line := fmt.Sprintf("\r%s %s", label, units.HumanSize(written))
		if total > 0 {
			n := int(written * width / total)
			n = min(max(n, 0), width)
			line = fmt.Sprintf("\r%s [%s%s] %s / %s", label, strings.Repeat("#", n), strings.Repeat(".", width-n), units.HumanSize(written), units.HumanSize(total))
		}
		if rate := speed(window); rate > 0 {
			line += fmt.Sprintf("  %s/s", units.HumanSize(int64(rate)))
			if total > written {
				line += "  " + eta(time.Duration(float64(total-written)/rate*float64(time.Second))) + " left"
			}
		}
		fmt.Fprint(w, line+"\x1b[K")
		drawn = true
	}
	progress = func(written, total int64) {
		t := now()
		window = append(window, sample{t, written})
		for len(window) > 2 && t.Sub(window[1].at) >= speedWindow {
			window = window[1:]
		}
		if t.Sub(last) >= 100*time.Millisecond || written == total {
			last = t
			draw(written, total, t)
		}
	}
	done = func() {
		if drawn {
			fmt.Fprint(w, "\n")
			drawn = false
		}
	}
	return progress, done
}

// speed is bytes per second over the samples' span; 0 when too short to say.
func speed(s []sample) float64 {
	if len(s) < 2 {
		return 0
	}
	first, last := s[0], s[len(s)-1]
	d := last.at.Sub(first.at)
	if d < 200*time.Millisecond || last.n <= first.n {
		return 0
	}
	return float64(last.n-first.n) / d.Seconds()
}

// eta prints a time left as 42s, 3m05s or 1h02m.
func eta(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
}
