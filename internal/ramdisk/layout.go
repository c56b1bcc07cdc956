package ramdisk

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
)

// DefaultRunDir holds the live mounts' private parts; it is on /run, so a
// reboot clears it and the boot unit builds it again from the config.
const DefaultRunDir = "/run/pitstop/ramdisk"

// OverlaySource and TmpfsSource name pitstop's mounts in
// /proc/self/mountinfo (the "source" field), which is how Active and
// Mounts recognise them, also in a captured mountinfo.
const (
	OverlaySource = "pitstop-ramdisk"
	TmpfsSource   = "pitstop-ramdisk-tmpfs"
)

// layout names every path belonging to one ramdisk of directory Dir.
//
//	Dir                          the overlay (lower: Disk, upper and work: RAM)
//	<run>/<id>/disk              a private bind mount of Dir's parent directory
//	<run>/<id>/disk/<base>       Disk: the on-disk copy, reachable while Dir is covered
//	<run>/<id>/ram               the tmpfs (size=, exec allowed)
//	<run>/<id>/ram/upper, work   the overlay's upper and work directories
//	<run>/<id>/state.json        the live state (size, last sync attempt)
//	<run>/<id>.lock              serialises syncs, mounts and unmounts
//	<parent>/.<base>.pitstop/    on disk: last-sync.json and, during a sync,
//	                             sync/ (staged files, journal, trash)
//
// The metadata directory sits beside Dir, not inside it, so that Go never
// sees it; it is on the same filesystem (Dir is never a mount point), so a
// staged file reaches its place by rename.
type layout struct {
	Dir        string
	ID         string
	Run        string
	DiskParent string
	Disk       string
	RAM        string
	Upper      string
	Work       string
	State      string
	Lock       string
	// Meta is the metadata directory as seen through the bind mount
	// (while mounted); MetaDirect is the same directory through Dir's
	// parent (when nothing is mounted).
	Meta       string
	MetaDirect string
}

func newLayout(runDir, dir string) layout {
	id := pathID(dir)
	base := filepath.Base(dir)
	run := filepath.Join(runDir, id)
	l := layout{
		Dir:        dir,
		ID:         id,
		Run:        run,
		DiskParent: filepath.Join(run, "disk"),
		RAM:        filepath.Join(run, "ram"),
		State:      filepath.Join(run, "state.json"),
		Lock:       filepath.Join(runDir, id+".lock"),
		MetaDirect: filepath.Join(filepath.Dir(dir), "."+base+".pitstop"),
	}
	l.Disk = filepath.Join(l.DiskParent, base)
	l.Upper = filepath.Join(l.RAM, "upper")
	l.Work = filepath.Join(l.RAM, "work")
	l.Meta = filepath.Join(l.DiskParent, "."+base+".pitstop")
	return l
}

// pathID turns /home/pi/go/pkg/mod into "home-pi-go-pkg-mod.1a2b3c4d":
// readable, and unique thanks to a hash of the exact path.
func pathID(dir string) string {
	var b strings.Builder
	for _, r := range strings.Trim(dir, "/") {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := b.String()
	if len(s) > 60 {
		s = s[len(s)-60:]
	}
	h := sha256.Sum256([]byte(dir))
	return s + "." + hex.EncodeToString(h[:4])
}
