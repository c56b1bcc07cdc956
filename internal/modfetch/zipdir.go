package modfetch

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	modzip "golang.org/x/mod/zip"
)

// DefaultMaxZipFiles is the most files a module zip may hold when
// Fetcher.MaxZipFiles is 0. A Go toolchain's zip (golang.org/toolchain),
// among the largest modules fetched, holds about 15,000. Checking and
// hashing a zip (x/mod/zip.CheckZip, dirhash.HashZip) costs memory per
// file: a 100,000-file zip took a proxy from 17 to 153 MB; the limit
// bounds what one verification can take.
const DefaultMaxZipFiles = 50_000

// ZipLimitError is a module zip refused from its central directory, before
// the full check: too many files, or more bytes than x/mod/zip allows.
type ZipLimitError struct {
	Path, Version string
	Reason        string
}

func (e *ZipLimitError) Error() string {
	return fmt.Sprintf("%s@%s: module zip refused: %s", e.Path, e.Version, e.Reason)
}

// checkZipDirectory reads file's central directory one entry at a time,
// keeping nothing, and refuses a zip with more than maxFiles entries or
// whose entries declare more than x/mod/zip's MaxZipFile bytes
// uncompressed in all. The count is of the entries actually there, not
// the end record's claim. What it accepts still goes through
// x/mod/zip.CheckZip, which checks every entry again.
func checkZipDirectory(path, vers, file string, maxFiles int) error {
	refuse := func(format string, args ...any) error {
		return &ZipLimitError{Path: path, Version: vers, Reason: fmt.Sprintf(format, args...)}
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	off, err := centralDirOffset(f, fi.Size())
	if err != nil {
		return fmt.Errorf("%s@%s: invalid module zip: %w", path, vers, err)
	}
	br := bufio.NewReaderSize(io.NewSectionReader(f, off, fi.Size()-off), 64<<10)
	var hdr [46]byte
	var files int
	var total uint64
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil || binary.LittleEndian.Uint32(hdr[:4]) != 0x02014b50 {
			break // the end of the central directory, as archive/zip sees it
		}
		files++
		if files > maxFiles {
			return refuse("more than %d files (the limit on files in a module zip)", maxFiles)
		}
		usize := uint64(binary.LittleEndian.Uint32(hdr[24:]))
		nameLen := int(binary.LittleEndian.Uint16(hdr[28:]))
		extraLen := int(binary.LittleEndian.Uint16(hdr[30:]))
		commentLen := int(binary.LittleEndian.Uint16(hdr[32:]))
		if _, err := br.Discard(nameLen); err != nil {
			break
		}
		if usize == 0xffffffff {
			// The size is in the zip64 extra field.
			extra := make([]byte, extraLen)
			if _, err := io.ReadFull(br, extra); err != nil {
				break
			}
			usize = zip64Size(extra)
		} else if _, err := br.Discard(extraLen); err != nil {
			break
		}
		if _, err := br.Discard(commentLen); err != nil {
			break
		}
		total += usize
		if total > modzip.MaxZipFile {
			return refuse("its files declare more than %d bytes uncompressed (x/mod/zip's limit)", int64(modzip.MaxZipFile))
		}
	}
	return nil
}

// zip64Size returns the uncompressed size from a zip64 extended
// information extra field, or an impossible size if there is none.
func zip64Size(extra []byte) uint64 {
	for len(extra) >= 4 {
		tag := binary.LittleEndian.Uint16(extra)
		n := int(binary.LittleEndian.Uint16(extra[2:]))
		extra = extra[4:]
		if n > len(extra) {
			break
		}
		if tag == 0x0001 && n >= 8 {
			return binary.LittleEndian.Uint64(extra)
		}
		extra = extra[n:]
	}
	return 1 << 62
}

// centralDirOffset finds the end of central directory record (zip64 if
// present) in the last 64 KiB of a zip and returns where the central
// directory starts.
func centralDirOffset(r io.ReaderAt, size int64) (int64, error) {
	const eocdLen, maxComment = 22, 65535
	n := min(size, eocdLen+maxComment)
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, size-n); err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	i := len(buf) - eocdLen
	for ; i >= 0; i-- {
		if binary.LittleEndian.Uint32(buf[i:]) == 0x06054b50 {
			break
		}
	}
	if i < 0 {
		return 0, errors.New("not a zip file: no end of central directory record")
	}
	eocdAt := size - n + int64(i)
	off := int64(binary.LittleEndian.Uint32(buf[i+16:]))
	if off == 0xffffffff && eocdAt >= 20 {
		// The zip64 end of central directory locator precedes the record.
		var loc [20]byte
		if _, err := r.ReadAt(loc[:], eocdAt-20); err == nil && binary.LittleEndian.Uint32(loc[:]) == 0x07064b50 {
			at := int64(binary.LittleEndian.Uint64(loc[8:]))
			var rec [56]byte
			if at >= 0 && at+56 <= size {
				if _, err := r.ReadAt(rec[:], at); err == nil && binary.LittleEndian.Uint32(rec[:]) == 0x06064b50 {
					off = int64(binary.LittleEndian.Uint64(rec[48:]))
				}
			}
		}
	}
	if off < 0 || off > size {
		return 0, errors.New("central directory offset outside the file")
	}
	return off, nil
}
