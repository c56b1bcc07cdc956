package host

import (
	"encoding/binary"
	"testing"
)

// elfHeader builds the ELF header of an executable for m with e_flags
// flags (52 bytes for 32-bit, 64 for 64-bit, as ParseELFHeader wants).
func elfHeader(m ELFMachine, flags uint32) []byte {
	b := make([]byte, 64)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 1, 1, 1
	var bo binary.ByteOrder = binary.LittleEndian
	if m.BigEndian {
		b[5], bo = 2, binary.BigEndian
	}
	flagsAt := 36
	if m.Class == 64 {
		b[4], flagsAt = 2, 48
	} else {
		b = b[:52]
	}
	bo.PutUint16(b[16:], 2) // ET_EXEC
	bo.PutUint16(b[18:], m.Machine)
	bo.PutUint32(b[flagsAt:], flags)
	return b
}

func TestParseELFHeader(t *testing.T) {
	for _, tt := range []struct {
		m      ELFMachine
		flags  uint32
		goarch string
		float  FloatABI
		str    string
	}{
		{ELFMachine{emARM, 32, false}, 0x05000400, "arm", FloatHard, "32-bit armhf"},
		{ELFMachine{emARM, 32, false}, 0x05000200, "arm", FloatSoft, "32-bit armel"},
		{ELFMachine{emARM, 32, false}, 0x02000000, "arm", FloatSoft, "32-bit armel"}, // EABI 2: no float flag
		{ELFMachine{emAARCH64, 64, false}, 0, "arm64", FloatNone, "64-bit arm64"},
		{ELFMachine{emX86_64, 64, false}, 0, "amd64", FloatNone, "64-bit amd64"},
		{ELFMachine{em386, 32, false}, 0, "386", FloatNone, "32-bit 386"},
		{ELFMachine{emRISCV, 64, false}, 5, "riscv64", FloatNone, "64-bit riscv64"},
		{ELFMachine{emPPC64, 64, false}, 2, "ppc64le", FloatNone, "64-bit ppc64le"},
		{ELFMachine{emPPC64, 64, true}, 1, "ppc64", FloatNone, "64-bit ppc64"},
		{ELFMachine{emS390, 64, true}, 0, "s390x", FloatNone, "64-bit s390x"},
		{ELFMachine{emMIPS, 32, true}, 0, "mips", FloatNone, "32-bit mips"},
		{ELFMachine{emMIPS, 64, false}, 0, "mips64le", FloatNone, "64-bit mips64le"},
		{ELFMachine{emLoongArch, 64, false}, 0, "loong64", FloatNone, "64-bit loong64"},
		{ELFMachine{emAARCH64, 32, false}, 0, "", FloatNone, "32-bit ELF machine 183"}, // ILP32 aarch64: no Go port
		{ELFMachine{emRISCV, 32, false}, 0, "", FloatNone, "32-bit ELF machine 243"},
		{ELFMachine{9999, 64, false}, 0, "", FloatNone, "64-bit ELF machine 9999"},
	} {
		got, err := ParseELFHeader(elfHeader(tt.m, tt.flags))
		if err != nil || got.ELFMachine != tt.m || got.Flags != tt.flags {
			t.Errorf("ParseELFHeader(%+v, %#x) = %+v, %v", tt.m, tt.flags, got, err)
			continue
		}
		if got.GOARCH() != tt.goarch || got.Float() != tt.float || got.String() != tt.str {
			t.Errorf("%+v %#x: GOARCH %q, Float %q, String %q; want %q, %q, %q", tt.m, tt.flags, got.GOARCH(), got.Float(), got.String(), tt.goarch, tt.float, tt.str)
		}
		if a, ok := got.Arch(); ok != (tt.goarch != "") || a.GOARCH != tt.goarch {
			t.Errorf("%+v: Arch() = %+v, %v", tt.m, a, ok)
		}
	}
	long := elfHeader(ELFMachine{emARM, 32, false}, 0)
	for _, bad := range [][]byte{nil, []byte("#!/bin/sh\necho hi\n.........."), []byte("\x7fELF\x01"), long[:51],
		append([]byte("\x7fELF\x03"), long[5:]...), append([]byte("\x7fELF\x01\x03"), long[6:]...)} {
		if _, err := ParseELFHeader(bad); err == nil {
			t.Errorf("ParseELFHeader(%q) accepted", bad)
		}
	}
}

func FuzzParseELFHeader(f *testing.F) {
	f.Add(elfHeader(ELFMachine{emARM, 32, false}, 0x05000400))
	f.Add(elfHeader(ELFMachine{emAARCH64, 64, false}, 0))
	f.Add([]byte("\x7fELF"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ParseELFHeader(b)
		if err != nil {
			return
		}
		if info.Class != 32 && info.Class != 64 {
			t.Fatalf("class %d accepted", info.Class)
		}
		// A header Go has a port for names a row with its own machine.
		if a, ok := info.Arch(); ok && (a.ELF != info.ELFMachine || a.GOARCH == "" || info.GOARCH() != a.GOARCH) {
			t.Fatalf("%+v: row %+v", info, a)
		}
		if info.Float() != FloatNone && info.GOARCH() != "arm" {
			t.Fatalf("%+v: float ABI %q off ARM", info, info.Float())
		}
	})
}
