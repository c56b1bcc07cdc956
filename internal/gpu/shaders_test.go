package gpu

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// SPIR-V opcodes that carry only debug information.
var spirvDebugOps = map[uint32]bool{
	2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true, // OpSourceContinued..OpLine (5 OpName, 6 OpMemberName, 7 OpString)
	317: true, // OpNoLine
	330: true, // OpModuleProcessed
}

// stripSPIRV drops the header's generator word (it names the glslang
// version) and the debug instructions, leaving what a driver executes.
func stripSPIRV(t *testing.T, b []byte) []byte {
	t.Helper()
	if len(b)%4 != 0 || len(b) < 20 || binary.LittleEndian.Uint32(b) != 0x07230203 {
		t.Fatalf("not little-endian SPIR-V (%d bytes)", len(b))
	}
	words := make([]uint32, len(b)/4)
	for i := range words {
		words[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	out := []uint32{words[0], words[1], 0, words[3], words[4]}
	for i := 5; i < len(words); {
		n, op := words[i]>>16, words[i]&0xffff
		if n == 0 || i+int(n) > len(words) {
			t.Fatalf("malformed SPIR-V instruction at word %d", i)
		}
		if !spirvDebugOps[op] {
			out = append(out, words[i:i+int(n)]...)
		}
		i += int(n)
	}
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, out)
	return buf.Bytes()
}

// TestShadersCompile recompiles the GLSL with glslangValidator -V and
// compares with the committed SPIR-V (the bytes pitstop-gpu embeds):
// byte for byte when glslang is the version that made them, otherwise
// after dropping the generator word and debug instructions, since other
// glslang versions stamp their own version and may name things apart.
func TestShadersCompile(t *testing.T) {
	glslang, err := exec.LookPath("glslangValidator")
	if err != nil {
		t.Skipf("needs glslangValidator (apt-get install glslang-tools): %v", err)
	}
	for _, name := range []string{"saxpy", "sgemm"} {
		out := filepath.Join(t.TempDir(), name+".spv")
		if b, err := exec.Command(glslang, "-V", filepath.Join("shaders", name+".comp"), "-o", out).CombinedOutput(); err != nil {
			t.Fatalf("glslangValidator -V shaders/%s.comp: %v\n%s", name, err, b)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		committed := map[string][]byte{"saxpy": SAXPYSPIRV, "sgemm": SGEMMSPIRV}[name]
		if bytes.Equal(got, committed) {
			continue
		}
		if bytes.Equal(stripSPIRV(t, got), stripSPIRV(t, committed)) {
			t.Logf("shaders/%s.spv: same code, different debug info or generator (another glslang version)", name)
			continue
		}
		t.Errorf("shaders/%s.spv is not what shaders/%s.comp compiles to: run `glslangValidator -V shaders/%s.comp -o shaders/%s.spv` in internal/gpu and commit both", name, name, name, name)
	}
}
