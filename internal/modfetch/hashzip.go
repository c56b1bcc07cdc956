package modfetch

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// hashZip returns a module zip's h1: hash, exactly what
// dirhash.HashZip(file, dirhash.Hash1) returns, with the files hashed on
// up to hashWorkers goroutines: decompressing is nearly all the work, and
// a toolchain zip (some 15,000 files, 250 MB unpacked) takes seconds on
// one core of a Pi. Each worker holds one file's decompressor at a time.
func hashZip(file string) (string, error) {
	z, err := zip.OpenReader(file)
	if err != nil {
		return "", err
	}
	defer z.Close()
	// As dirhash.HashZip: every entry's name, sorted; a repeated name
	// hashes (each time) the last entry of that name.
	byName := make(map[string]*zip.File, len(z.File))
	names := make([]string, 0, len(z.File))
	for _, f := range z.File {
		names = append(names, f.Name)
		byName[f.Name] = f
	}
	slices.Sort(names)
	if err := checkHash1Names(names); err != nil {
		return "", err
	}
	sums := make([][sha256.Size]byte, len(names))
	errs := make([]error, len(names))
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range min(hashWorkers(), len(names)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := sha256.New()
			buf := make([]byte, 64<<10)
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(names) {
					return
				}
				r, err := byName[names[i]].Open()
				if err == nil {
					h.Reset()
					_, err = io.CopyBuffer(h, r, buf)
					r.Close()
					h.Sum(sums[i][:0])
				}
				if err != nil {
					errs[i] = err
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	return Hash1(names, sums)
}

// Hash1 is dirhash.Hash1's last step: the h1: hash of files named by
// names (sorted) whose SHA-256 sums are sums, in the same order. It is
// what hashZip ends with, and what an unpacker that hashed each file as
// it wrote it (toolchain) calls to get the zip's hash without reading it
// again.
func Hash1(names []string, sums [][sha256.Size]byte) (string, error) {
	if err := checkHash1Names(names); err != nil {
		return "", err
	}
	h := sha256.New()
	for i, name := range names {
		fmt.Fprintf(h, "%x  %s\n", sums[i], name)
	}
	return "h1:" + base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}

func checkHash1Names(names []string) error {
	for _, name := range names {
		if strings.Contains(name, "\n") {
			return errors.New("dirhash: filenames with newlines are not supported")
		}
	}
	return nil
}

// hashWorkers is how many files of one zip are hashed at once.
func hashWorkers() int { return min(runtime.NumCPU(), 4) }
