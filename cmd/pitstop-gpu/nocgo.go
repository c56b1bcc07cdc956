//go:build !cgo

// Command pitstop-gpu is the Vulkan side of `pitstop gpu`; it needs cgo.
// Built without it, it says so in a pitstop-gpu/v1 reply and exits 3.
package main

import (
	"encoding/json"
	"os"

	"github.com/pitstop-go/pitstop/internal/gpu"
)

func main() {
	json.NewEncoder(os.Stdout).Encode(gpu.Reply{Schema: gpu.Schema, Problem: &gpu.Problem{
		Kind:    gpu.NoCompanion,
		Message: "this pitstop-gpu was built with CGO_ENABLED=0 and cannot call Vulkan",
		Fix:     gpu.CompanionFix,
	}})
	os.Exit(gpu.ExitUnavailable)
}
