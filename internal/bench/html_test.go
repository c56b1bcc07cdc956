package bench

import (
	"bytes"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHTMLInChromium: the HTML report of a real quick run is one file that
// fetches nothing, and headless Chromium opens it without a console error
// and renders a screenshot of it. PITSTOP_BENCH_SCREENSHOT=FILE keeps the
// screenshot.
func TestHTMLInChromium(t *testing.T) {
	r := quickReport(t)
	var page bytes.Buffer
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	h := page.String()
	// Self-contained: no scripts, stylesheets, images or frames from
	// elsewhere (the only URL is SVG's namespace).
	if m := regexp.MustCompile(`(?i)(src|href)\s*=|<script|@import|url\(`).FindString(h); m != "" {
		t.Errorf("the page loads something: %q", m)
	}
	if n := strings.Count(h, "<svg"); n < 4+len(r.GC.Configs()) {
		t.Errorf("%d charts", n)
	}
	for _, want := range []string{"Memory bandwidth", "Garbage collector", "Storage", "Throughput under heat", "<polyline"} {
		if !strings.Contains(h, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skipf("needs chromium (test.sh installs Debian's): %v", err)
	}
	dir := t.TempDir()
	file, shot := filepath.Join(dir, "report.html"), filepath.Join(dir, "shot.png")
	if err := os.WriteFile(file, page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--no-first-run", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--enable-logging=stderr", "--v=0", "--screenshot="+shot, "--window-size=1200,1600", "file://"+file)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "CONSOLE") || strings.Contains(l, "Uncaught") {
			t.Errorf("console: %s", l)
		}
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, out)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// Not blank: the charts put many colours on the page.
	b := img.Bounds()
	colours := map[[3]uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			r, g, bb, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, bb >> 8}] = true
		}
	}
	if b.Dx() != 1200 || b.Dy() != 1600 || len(colours) < 20 {
		t.Errorf("screenshot %v with %d colours: blank?", b, len(colours))
	}
	if keep := os.Getenv("PITSTOP_BENCH_SCREENSHOT"); keep != "" {
		data, _ := os.ReadFile(shot)
		_ = os.WriteFile(keep, data, 0o644)
		_ = os.WriteFile(strings.TrimSuffix(keep, ".png")+".html", page.Bytes(), 0o644)
	}
}
