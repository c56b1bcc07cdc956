#version 450
// SGEMM: C = A*B, A m×k, B k×n, C m×n, row-major float32. Each 8×8
// workgroup computes one 8×8 tile of C, staging tiles of A and B in shared
// memory (512 bytes, far below any device's maxComputeSharedMemorySize).
// 64 invocations fit every device (Vulkan guarantees 128).
layout(local_size_x = 8, local_size_y = 8) in;
layout(std430, set = 0, binding = 0) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { float b[]; };
layout(std430, set = 0, binding = 2) writeonly buffer C { float c[]; };
layout(push_constant) uniform Push { uint m; uint n; uint k; } p;

shared float ta[8][8];
shared float tb[8][8];

void main() {
	uint row = gl_GlobalInvocationID.y;
	uint col = gl_GlobalInvocationID.x;
	uint ly = gl_LocalInvocationID.y;
	uint lx = gl_LocalInvocationID.x;
	float acc = 0.0;
	for (uint t = 0; t < p.k; t += 8) {
		ta[ly][lx] = (row < p.m && t + lx < p.k) ? a[row * p.k + t + lx] : 0.0;
		tb[ly][lx] = (col < p.n && t + ly < p.k) ? b[(t + ly) * p.n + col] : 0.0;
		barrier();
		for (uint i = 0; i < 8; i++) {
			acc += ta[ly][i] * tb[i][lx];
		}
		barrier();
	}
	if (row < p.m && col < p.n) {
		c[row * p.n + col] = acc;
	}
}
