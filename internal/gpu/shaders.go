package gpu

import _ "embed"

// The compute shaders, GLSL under shaders/ compiled with
// `glslangValidator -V` (see shaders_test.go, which recompiles them).
var (
	//go:embed shaders/saxpy.spv
	SAXPYSPIRV []byte
	//go:embed shaders/sgemm.spv
	SGEMMSPIRV []byte
)

// Workgroup shapes of the shaders (local_size in the GLSL).
const (
	SAXPYLocalSize = 64 // saxpy.comp: local_size_x
	SGEMMTile      = 8  // sgemm.comp: local_size_x = local_size_y
)
