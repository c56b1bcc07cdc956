package toolchain

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pitstop-go/pitstop/internal/units"
)

// ProgressBar returns a progress callback that redraws one line on w (a
// terminal) at most ten times a second, and a function that ends the line.
func ProgressBar(w io.Writer, label string) (progress func(written, total int64), done func()) {
	var last time.Time
	drawn := false
	draw := func(written, total int64) {
		const width = 30
		line := fmt.Sprintf("\r%s %s", label, units.HumanSize(written))
		if total > 0 {
			n := int(written * width / total)
			n = min(max(n, 0), width)
			line = fmt.Sprintf("\r%s [%s%s] %s / %s", label, strings.Repeat("#", n), strings.Repeat(".", width-n), units.HumanSize(written), units.HumanSize(total))
		}
		fmt.Fprint(w, line+"\x1b[K")
		drawn = true
	}
	progress = func(written, total int64) {
		if now := time.Now(); now.Sub(last) >= 100*time.Millisecond || written == total {
			last = now
			draw(written, total)
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
