// The C side of pitstop-gpu: libvulkan.so.1 opened with dlopen (so that a
// machine without a loader gets an answer, not a dynamic-linker error), the
// few Vulkan entry points pitstop-gpu calls, and a compute context that
// runs one SPIR-V kernel over host-visible storage buffers.
#ifndef PITSTOP_GPU_VK_H
#define PITSTOP_GPU_VK_H

#define VK_NO_PROTOTYPES
#include <stddef.h>
#include <stdint.h>
#include <vulkan/vulkan.h>

// pg_load opens the loader library (libname, e.g. "libvulkan.so.1").
// It returns 0, or -1 with dlerror's text in err. path receives the file
// the dynamic linker opened.
int pg_load(const char *libname, char *err, size_t errlen, char *path, size_t pathlen);

// pg_loader_version is vkEnumerateInstanceVersion (1.0 loaders lack it).
uint32_t pg_loader_version(void);

// pg_create_instance creates the instance at apiVersion.
VkResult pg_create_instance(uint32_t apiVersion);
void pg_destroy_instance(void);

VkResult pg_physical_devices(uint32_t *count, VkPhysicalDevice *out);
void pg_properties(VkPhysicalDevice d, VkPhysicalDeviceProperties *p);
// pg_driver_properties fills VkPhysicalDeviceDriverProperties when the
// device speaks Vulkan 1.2 (returns 1), else returns 0.
int pg_driver_properties(VkPhysicalDevice d, VkPhysicalDeviceDriverProperties *p);
void pg_queue_families(VkPhysicalDevice d, uint32_t *count, VkQueueFamilyProperties *out);
void pg_memory_properties(VkPhysicalDevice d, VkPhysicalDeviceMemoryProperties *p);

// A compute context: one device with one compute queue.
typedef struct pg_ctx pg_ctx;
typedef struct pg_buf pg_buf;
typedef struct pg_kernel pg_kernel;

VkResult pg_ctx_create(VkPhysicalDevice d, pg_ctx **out);
void pg_ctx_destroy(pg_ctx *c);
uint32_t pg_ctx_queue_family(pg_ctx *c);

// pg_buf_create allocates a storage buffer in host-visible, host-coherent
// memory (device-local too when the device has such memory) and maps it.
VkResult pg_buf_create(pg_ctx *c, VkDeviceSize size, pg_buf **out);
void *pg_buf_ptr(pg_buf *b);
uint32_t pg_buf_memory_flags(pg_buf *b);
void pg_buf_destroy(pg_ctx *c, pg_buf *b);

// pg_kernel_create builds a compute pipeline from SPIR-V with nbuf storage
// buffers (bindings 0..nbuf-1 of set 0) and pushSize bytes of push
// constants, and binds bufs to it.
VkResult pg_kernel_create(pg_ctx *c, const uint32_t *spirv, size_t bytes, uint32_t nbuf,
                          uint32_t pushSize, pg_buf **bufs, pg_kernel **out);
void pg_kernel_destroy(pg_ctx *c, pg_kernel *k);

// pg_dispatch records, submits and waits for one dispatch of k (with a
// barrier making the shader's writes visible to the host).
VkResult pg_dispatch(pg_ctx *c, pg_kernel *k, const void *push, uint32_t gx, uint32_t gy, uint32_t gz);

const char *pg_result_name(VkResult r);

#endif
