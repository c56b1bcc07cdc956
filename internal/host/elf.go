package host

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ELFInfo is what an ELF header says about the machine a program is for.
type ELFInfo struct {
	ELFMachine
	// Flags is e_flags: for 32-bit ARM, the EABI version and the float
	// ABI.
	Flags uint32
}

// ParseELFHeader reads the ELF header at the start of an executable (52
// bytes for a 32-bit file, 64 for a 64-bit one).
func ParseELFHeader(b []byte) (ELFInfo, error) {
	if len(b) < 16 || string(b[:4]) != "\x7fELF" {
		return ELFInfo{}, errors.New("not an ELF file")
	}
	var info ELFInfo
	var size, flagsAt int
	switch b[4] {
	case 1:
		info.Class, size, flagsAt = 32, 52, 36
	case 2:
		info.Class, size, flagsAt = 64, 64, 48
	default:
		return ELFInfo{}, fmt.Errorf("ELF class %d unknown", b[4])
	}
	var bo binary.ByteOrder
	switch b[5] {
	case 1:
		bo = binary.LittleEndian
	case 2:
		bo, info.BigEndian = binary.BigEndian, true
	default:
		return ELFInfo{}, fmt.Errorf("ELF data encoding %d unknown", b[5])
	}
	if len(b) < size {
		return ELFInfo{}, fmt.Errorf("ELF header cut short: %d of %d bytes", len(b), size)
	}
	info.Machine = bo.Uint16(b[18:20])
	info.Flags = bo.Uint32(b[flagsAt : flagsAt+4])
	return info, nil
}

// Float returns the float ABI of a 32-bit ARM executable, from
// EF_ARM_ABI_FLOAT_HARD in e_flags; FloatNone for other machines.
func (e ELFInfo) Float() FloatABI {
	switch {
	case e.Machine != emARM || e.Class != 32:
		return FloatNone
	case e.Flags&efARMABIFloatHard != 0:
		return FloatHard
	}
	return FloatSoft
}

// Arch returns the architecture table's row for the header; false when Go
// has no port for its machine, word size and byte order.
func (e ELFInfo) Arch() (Arch, bool) { return ArchByELF(e.ELFMachine, e.Float()) }

// GOARCH returns Go's name for the header's architecture, "" when Go has
// no port for it.
func (e ELFInfo) GOARCH() string {
	a, _ := e.Arch()
	return a.GOARCH
}

// String describes the architecture as "64-bit arm64", "32-bit armhf"
// (32-bit ARM by its Debian name, which says the float ABI) or "32-bit ELF
// machine 243".
func (e ELFInfo) String() string {
	a, ok := e.Arch()
	switch {
	case !ok:
		return fmt.Sprintf("%d-bit ELF machine %d", e.Class, e.Machine)
	case a.GOARCH == "arm":
		return fmt.Sprintf("%d-bit %s", e.Class, a.Dpkg)
	}
	return fmt.Sprintf("%d-bit %s", e.Class, a.GOARCH)
}

// UserlandProbes are the executables whose ELF header tells the userland's
// architecture, in the order tried.
var UserlandProbes = []string{"/bin/sh", "/usr/bin/env", "/bin/ls", "/usr/bin/ls"}

// Userland returns the architecture of the userland from the ELF header of
// /bin/sh (or another always-present executable), and the path read. A
// 64-bit kernel with a 32-bit userland shows up as uname "aarch64" and an
// ELF32 ARM /bin/sh.
func (r *Root) Userland() (ELFInfo, string, error) {
	var firstErr error
	for _, p := range UserlandProbes {
		b, err := r.ReadFile(p)
		if err == nil {
			var info ELFInfo
			if info, err = ParseELFHeader(b); err == nil {
				return info, p, nil
			}
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("%s: %w", p, err)
		}
	}
	return ELFInfo{}, "", firstErr
}
