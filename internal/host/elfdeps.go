package host

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ELFDeps is what a dynamically linked program needs from the system that
// runs it: the loader, the libraries and the versioned symbols.
type ELFDeps struct {
	Header ELFInfo
	// Interp is the dynamic loader (PT_INTERP); "" for a static program.
	Interp string
	// Needed are the DT_NEEDED libraries, in order.
	Needed []string
	// Symbols are the imported symbols that carry a version
	// (memcpy@GLIBC_2.17), in the file's order.
	Symbols []VersionedSymbol
}

// VersionedSymbol is an imported symbol with its version and library.
type VersionedSymbol struct {
	Name, Version, Library string
}

// Static reports whether the program needs no loader and no library.
func (d ELFDeps) Static() bool { return d.Interp == "" && len(d.Needed) == 0 }

// ReadELFDeps reads the header, loader, needed libraries and versioned
// imported symbols of the ELF file at p.
func ReadELFDeps(p string) (ELFDeps, error) {
	fh, err := os.Open(p)
	if err != nil {
		return ELFDeps{}, err
	}
	defer fh.Close()
	head := make([]byte, 64)
	n, _ := io.ReadFull(fh, head)
	var d ELFDeps
	if d.Header, err = ParseELFHeader(head[:n]); err != nil {
		return ELFDeps{}, fmt.Errorf("%s: %w", p, err)
	}
	f, err := elf.NewFile(fh)
	if err != nil {
		return ELFDeps{}, fmt.Errorf("%s: %w", p, err)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			b, err := io.ReadAll(prog.Open())
			if err != nil {
				return ELFDeps{}, fmt.Errorf("%s: PT_INTERP: %w", p, err)
			}
			d.Interp = strings.TrimRight(string(b), "\x00")
		}
	}
	if d.Needed, err = f.ImportedLibraries(); err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return ELFDeps{}, fmt.Errorf("%s: DT_NEEDED: %w", p, err)
	}
	syms, err := f.ImportedSymbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return ELFDeps{}, fmt.Errorf("%s: dynamic symbols: %w", p, err)
	}
	for _, s := range syms {
		if s.Version != "" {
			d.Symbols = append(d.Symbols, VersionedSymbol{Name: s.Name, Version: s.Version, Library: s.Library})
		}
	}
	return d, nil
}
