#version 450
// SAXPY: y[i] = a*x[i] + y[i] for i < n. A grid-stride loop covers any n
// with a dispatch of at most maxComputeWorkGroupCount[0] workgroups.
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) buffer Y { float y[]; };
layout(push_constant) uniform Push { uint n; float a; } p;

void main() {
	uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
	for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {
		y[i] = p.a * x[i] + y[i];
	}
}
