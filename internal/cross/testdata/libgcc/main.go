// Command libgcc is cross's test program: its C needs libgcc (128-bit
// division on 64-bit targets, 64-bit division on 32-bit ARM, both helper
// functions of libgcc) and its C++ throws and catches an exception (the
// unwinder in libgcc_s, std::runtime_error in libstdc++).
package main

/*
#include <stdint.h>

int cxx_catch(int n);

static uint64_t divide(uint64_t hi, uint64_t lo, uint64_t d) {
#ifdef __SIZEOF_INT128__
	unsigned __int128 n = ((unsigned __int128)hi << 64) | lo;
	return (uint64_t)(n / d); // __udivti3
#else
	(void)hi;
	return lo / d; // __aeabi_uldivmod
#endif
}

static int has_int128(void) {
#ifdef __SIZEOF_INT128__
	return 1;
#else
	return 0;
#endif
}
*/
import "C"

import (
	"fmt"
	"math/bits"
	"os"
	"strconv"
)

func main() {
	hi, _ := strconv.ParseUint(os.Args[1], 10, 64)
	lo, _ := strconv.ParseUint(os.Args[2], 10, 64)
	d, _ := strconv.ParseUint(os.Args[3], 10, 64)
	got := uint64(C.divide(C.uint64_t(hi), C.uint64_t(lo), C.uint64_t(d)))
	want := lo / d
	if C.has_int128() != 0 {
		want, _ = bits.Div64(hi, lo, d)
	}
	if got != want {
		fmt.Printf("divide: C says %d, Go says %d\n", got, want)
		os.Exit(1)
	}
	fmt.Printf("divide %d ok; C++ caught %d\n", got, int(C.cxx_catch(C.int(len(os.Args)))))
}
