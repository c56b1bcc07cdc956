#define _GNU_SOURCE
#include "vk.h"

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *lib;
static VkInstance inst;

#define FN(name) static PFN_##name p_##name
FN(vkGetInstanceProcAddr);
FN(vkEnumerateInstanceVersion);
FN(vkCreateInstance);
FN(vkDestroyInstance);
FN(vkEnumeratePhysicalDevices);
FN(vkGetPhysicalDeviceProperties);
FN(vkGetPhysicalDeviceProperties2);
FN(vkGetPhysicalDeviceQueueFamilyProperties);
FN(vkGetPhysicalDeviceMemoryProperties);
FN(vkGetDeviceProcAddr);
FN(vkCreateDevice);
FN(vkDestroyDevice);
FN(vkGetDeviceQueue);
FN(vkCreateBuffer);
FN(vkDestroyBuffer);
FN(vkGetBufferMemoryRequirements);
FN(vkAllocateMemory);
FN(vkFreeMemory);
FN(vkBindBufferMemory);
FN(vkMapMemory);
FN(vkCreateShaderModule);
FN(vkDestroyShaderModule);
FN(vkCreateDescriptorSetLayout);
FN(vkDestroyDescriptorSetLayout);
FN(vkCreatePipelineLayout);
FN(vkDestroyPipelineLayout);
FN(vkCreateComputePipelines);
FN(vkDestroyPipeline);
FN(vkCreateDescriptorPool);
FN(vkDestroyDescriptorPool);
FN(vkAllocateDescriptorSets);
FN(vkUpdateDescriptorSets);
FN(vkCreateCommandPool);
FN(vkDestroyCommandPool);
FN(vkAllocateCommandBuffers);
FN(vkBeginCommandBuffer);
FN(vkEndCommandBuffer);
FN(vkResetCommandBuffer);
FN(vkCmdBindPipeline);
FN(vkCmdBindDescriptorSets);
FN(vkCmdPushConstants);
FN(vkCmdDispatch);
FN(vkCmdPipelineBarrier);
FN(vkCreateFence);
FN(vkDestroyFence);
FN(vkResetFences);
FN(vkWaitForFences);
FN(vkQueueSubmit);
#undef FN

#define GLOBAL(name) p_##name = (PFN_##name)p_vkGetInstanceProcAddr(NULL, #name)
#define INST(name) p_##name = (PFN_##name)p_vkGetInstanceProcAddr(inst, #name)

int pg_load(const char *libname, char *err, size_t errlen, char *path, size_t pathlen) {
	lib = dlopen(libname, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(err, errlen, "%s", dlerror());
		return -1;
	}
	p_vkGetInstanceProcAddr = (PFN_vkGetInstanceProcAddr)dlsym(lib, "vkGetInstanceProcAddr");
	if (!p_vkGetInstanceProcAddr) {
		snprintf(err, errlen, "%s has no vkGetInstanceProcAddr", libname);
		return -1;
	}
	struct link_map *lm = NULL;
	path[0] = 0;
	if (dlinfo(lib, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name) {
		snprintf(path, pathlen, "%s", lm->l_name);
	}
	GLOBAL(vkEnumerateInstanceVersion);
	GLOBAL(vkCreateInstance);
	return 0;
}

uint32_t pg_loader_version(void) {
	uint32_t v = VK_API_VERSION_1_0;
	if (p_vkEnumerateInstanceVersion && p_vkEnumerateInstanceVersion(&v) != VK_SUCCESS) {
		v = VK_API_VERSION_1_0;
	}
	return v;
}

VkResult pg_create_instance(uint32_t apiVersion) {
	VkApplicationInfo app = {
		.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
		.pApplicationName = "pitstop-gpu",
		.applicationVersion = 1,
		.pEngineName = "pitstop",
		.apiVersion = apiVersion,
	};
	VkInstanceCreateInfo ci = {
		.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
		.pApplicationInfo = &app,
	};
	VkResult r = p_vkCreateInstance(&ci, NULL, &inst);
	if (r != VK_SUCCESS) {
		return r;
	}
	INST(vkDestroyInstance);
	INST(vkEnumeratePhysicalDevices);
	INST(vkGetPhysicalDeviceProperties);
	INST(vkGetPhysicalDeviceProperties2);
	INST(vkGetPhysicalDeviceQueueFamilyProperties);
	INST(vkGetPhysicalDeviceMemoryProperties);
	INST(vkGetDeviceProcAddr);
	INST(vkCreateDevice);
	return VK_SUCCESS;
}

void pg_destroy_instance(void) {
	if (inst) {
		p_vkDestroyInstance(inst, NULL);
		inst = NULL;
	}
}

VkResult pg_physical_devices(uint32_t *count, VkPhysicalDevice *out) {
	return p_vkEnumeratePhysicalDevices(inst, count, out);
}

void pg_properties(VkPhysicalDevice d, VkPhysicalDeviceProperties *p) {
	p_vkGetPhysicalDeviceProperties(d, p);
}

int pg_driver_properties(VkPhysicalDevice d, VkPhysicalDeviceDriverProperties *p) {
	VkPhysicalDeviceProperties base;
	p_vkGetPhysicalDeviceProperties(d, &base);
	if (!p_vkGetPhysicalDeviceProperties2 || base.apiVersion < VK_API_VERSION_1_2) {
		return 0;
	}
	memset(p, 0, sizeof *p);
	p->sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES;
	VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = p};
	p_vkGetPhysicalDeviceProperties2(d, &p2);
	return 1;
}

void pg_queue_families(VkPhysicalDevice d, uint32_t *count, VkQueueFamilyProperties *out) {
	p_vkGetPhysicalDeviceQueueFamilyProperties(d, count, out);
}

void pg_memory_properties(VkPhysicalDevice d, VkPhysicalDeviceMemoryProperties *p) {
	p_vkGetPhysicalDeviceMemoryProperties(d, p);
}

struct pg_ctx {
	VkPhysicalDevice phys;
	VkDevice dev;
	VkQueue queue;
	uint32_t family;
	VkCommandPool pool;
	VkCommandBuffer cmd;
	VkFence fence;
	VkPhysicalDeviceMemoryProperties mem;
};

struct pg_buf {
	VkBuffer buf;
	VkDeviceMemory mem;
	VkDeviceSize size;
	void *ptr;
	uint32_t flags;
};

struct pg_kernel {
	VkShaderModule module;
	VkDescriptorSetLayout dsl;
	VkPipelineLayout layout;
	VkPipeline pipe;
	VkDescriptorPool dpool;
	VkDescriptorSet set;
	uint32_t pushSize;
};

#define DEV(name) p_##name = (PFN_##name)p_vkGetDeviceProcAddr(c->dev, #name)

VkResult pg_ctx_create(VkPhysicalDevice d, pg_ctx **out) {
	pg_ctx *c = calloc(1, sizeof *c);
	if (!c) {
		return VK_ERROR_OUT_OF_HOST_MEMORY;
	}
	c->phys = d;
	uint32_t n = 0;
	p_vkGetPhysicalDeviceQueueFamilyProperties(d, &n, NULL);
	VkQueueFamilyProperties *qf = calloc(n ? n : 1, sizeof *qf);
	p_vkGetPhysicalDeviceQueueFamilyProperties(d, &n, qf);
	// Prefer a compute-only family (a dedicated compute queue), else any
	// family with compute.
	int64_t fam = -1;
	for (uint32_t i = 0; i < n; i++) {
		if ((qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && !(qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) {
			fam = i;
			break;
		}
	}
	for (uint32_t i = 0; fam < 0 && i < n; i++) {
		if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
			fam = i;
		}
	}
	free(qf);
	if (fam < 0) {
		free(c);
		return VK_ERROR_FEATURE_NOT_PRESENT;
	}
	c->family = (uint32_t)fam;
	float prio = 1.0f;
	VkDeviceQueueCreateInfo qci = {
		.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
		.queueFamilyIndex = c->family,
		.queueCount = 1,
		.pQueuePriorities = &prio,
	};
	VkDeviceCreateInfo dci = {
		.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
		.queueCreateInfoCount = 1,
		.pQueueCreateInfos = &qci,
	};
	VkResult r = p_vkCreateDevice(d, &dci, NULL, &c->dev);
	if (r != VK_SUCCESS) {
		free(c);
		return r;
	}
	DEV(vkDestroyDevice);
	DEV(vkGetDeviceQueue);
	DEV(vkCreateBuffer);
	DEV(vkDestroyBuffer);
	DEV(vkGetBufferMemoryRequirements);
	DEV(vkAllocateMemory);
	DEV(vkFreeMemory);
	DEV(vkBindBufferMemory);
	DEV(vkMapMemory);
	DEV(vkCreateShaderModule);
	DEV(vkDestroyShaderModule);
	DEV(vkCreateDescriptorSetLayout);
	DEV(vkDestroyDescriptorSetLayout);
	DEV(vkCreatePipelineLayout);
	DEV(vkDestroyPipelineLayout);
	DEV(vkCreateComputePipelines);
	DEV(vkDestroyPipeline);
	DEV(vkCreateDescriptorPool);
	DEV(vkDestroyDescriptorPool);
	DEV(vkAllocateDescriptorSets);
	DEV(vkUpdateDescriptorSets);
	DEV(vkCreateCommandPool);
	DEV(vkDestroyCommandPool);
	DEV(vkAllocateCommandBuffers);
	DEV(vkBeginCommandBuffer);
	DEV(vkEndCommandBuffer);
	DEV(vkResetCommandBuffer);
	DEV(vkCmdBindPipeline);
	DEV(vkCmdBindDescriptorSets);
	DEV(vkCmdPushConstants);
	DEV(vkCmdDispatch);
	DEV(vkCmdPipelineBarrier);
	DEV(vkCreateFence);
	DEV(vkDestroyFence);
	DEV(vkResetFences);
	DEV(vkWaitForFences);
	DEV(vkQueueSubmit);
	p_vkGetDeviceQueue(c->dev, c->family, 0, &c->queue);
	p_vkGetPhysicalDeviceMemoryProperties(d, &c->mem);
	VkCommandPoolCreateInfo pci = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
		.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
		.queueFamilyIndex = c->family,
	};
	if ((r = p_vkCreateCommandPool(c->dev, &pci, NULL, &c->pool)) != VK_SUCCESS) {
		goto fail;
	}
	VkCommandBufferAllocateInfo cai = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
		.commandPool = c->pool,
		.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
		.commandBufferCount = 1,
	};
	if ((r = p_vkAllocateCommandBuffers(c->dev, &cai, &c->cmd)) != VK_SUCCESS) {
		goto fail;
	}
	VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
	if ((r = p_vkCreateFence(c->dev, &fci, NULL, &c->fence)) != VK_SUCCESS) {
		goto fail;
	}
	*out = c;
	return VK_SUCCESS;
fail:
	pg_ctx_destroy(c);
	return r;
}

void pg_ctx_destroy(pg_ctx *c) {
	if (!c) {
		return;
	}
	if (c->fence) {
		p_vkDestroyFence(c->dev, c->fence, NULL);
	}
	if (c->pool) {
		p_vkDestroyCommandPool(c->dev, c->pool, NULL);
	}
	p_vkDestroyDevice(c->dev, NULL);
	free(c);
}

uint32_t pg_ctx_queue_family(pg_ctx *c) { return c->family; }

VkResult pg_buf_create(pg_ctx *c, VkDeviceSize size, pg_buf **out) {
	pg_buf *b = calloc(1, sizeof *b);
	if (!b) {
		return VK_ERROR_OUT_OF_HOST_MEMORY;
	}
	b->size = size;
	VkBufferCreateInfo bci = {
		.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
		.size = size,
		.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
		.sharingMode = VK_SHARING_MODE_EXCLUSIVE,
	};
	VkResult r = p_vkCreateBuffer(c->dev, &bci, NULL, &b->buf);
	if (r != VK_SUCCESS) {
		free(b);
		return r;
	}
	VkMemoryRequirements req;
	p_vkGetBufferMemoryRequirements(c->dev, b->buf, &req);
	const uint32_t want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
	int64_t type = -1;
	for (int pass = 0; pass < 2 && type < 0; pass++) {
		for (uint32_t i = 0; i < c->mem.memoryTypeCount; i++) {
			uint32_t f = c->mem.memoryTypes[i].propertyFlags;
			if (!(req.memoryTypeBits & (1u << i)) || (f & want) != want) {
				continue;
			}
			if (pass == 0 && !(f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT)) {
				continue;
			}
			type = i;
			break;
		}
	}
	if (type < 0) {
		p_vkDestroyBuffer(c->dev, b->buf, NULL);
		free(b);
		return VK_ERROR_FEATURE_NOT_PRESENT;
	}
	b->flags = c->mem.memoryTypes[type].propertyFlags;
	VkMemoryAllocateInfo mai = {
		.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
		.allocationSize = req.size,
		.memoryTypeIndex = (uint32_t)type,
	};
	if ((r = p_vkAllocateMemory(c->dev, &mai, NULL, &b->mem)) != VK_SUCCESS) {
		p_vkDestroyBuffer(c->dev, b->buf, NULL);
		free(b);
		return r;
	}
	if ((r = p_vkBindBufferMemory(c->dev, b->buf, b->mem, 0)) != VK_SUCCESS ||
	    (r = p_vkMapMemory(c->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->ptr)) != VK_SUCCESS) {
		pg_buf_destroy(c, b);
		return r;
	}
	*out = b;
	return VK_SUCCESS;
}

void *pg_buf_ptr(pg_buf *b) { return b->ptr; }
uint32_t pg_buf_memory_flags(pg_buf *b) { return b->flags; }

void pg_buf_destroy(pg_ctx *c, pg_buf *b) {
	if (!b) {
		return;
	}
	p_vkDestroyBuffer(c->dev, b->buf, NULL);
	p_vkFreeMemory(c->dev, b->mem, NULL); // unmaps
	free(b);
}

VkResult pg_kernel_create(pg_ctx *c, const uint32_t *spirv, size_t bytes, uint32_t nbuf,
                          uint32_t pushSize, pg_buf **bufs, pg_kernel **out) {
	pg_kernel *k = calloc(1, sizeof *k);
	if (!k || nbuf > 8) {
		free(k);
		return VK_ERROR_OUT_OF_HOST_MEMORY;
	}
	k->pushSize = pushSize;
	VkResult r;
	VkShaderModuleCreateInfo smci = {
		.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
		.codeSize = bytes,
		.pCode = spirv,
	};
	if ((r = p_vkCreateShaderModule(c->dev, &smci, NULL, &k->module)) != VK_SUCCESS) {
		goto fail;
	}
	VkDescriptorSetLayoutBinding binds[8];
	for (uint32_t i = 0; i < nbuf; i++) {
		binds[i] = (VkDescriptorSetLayoutBinding){
			.binding = i,
			.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
			.descriptorCount = 1,
			.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
		};
	}
	VkDescriptorSetLayoutCreateInfo dslci = {
		.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
		.bindingCount = nbuf,
		.pBindings = binds,
	};
	if ((r = p_vkCreateDescriptorSetLayout(c->dev, &dslci, NULL, &k->dsl)) != VK_SUCCESS) {
		goto fail;
	}
	VkPushConstantRange pcr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = pushSize};
	VkPipelineLayoutCreateInfo plci = {
		.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
		.setLayoutCount = 1,
		.pSetLayouts = &k->dsl,
		.pushConstantRangeCount = pushSize ? 1 : 0,
		.pPushConstantRanges = &pcr,
	};
	if ((r = p_vkCreatePipelineLayout(c->dev, &plci, NULL, &k->layout)) != VK_SUCCESS) {
		goto fail;
	}
	VkComputePipelineCreateInfo cpci = {
		.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
		.stage = {
			.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
			.stage = VK_SHADER_STAGE_COMPUTE_BIT,
			.module = k->module,
			.pName = "main",
		},
		.layout = k->layout,
	};
	if ((r = p_vkCreateComputePipelines(c->dev, VK_NULL_HANDLE, 1, &cpci, NULL, &k->pipe)) != VK_SUCCESS) {
		goto fail;
	}
	VkDescriptorPoolSize ps = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = nbuf};
	VkDescriptorPoolCreateInfo dpci = {
		.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
		.maxSets = 1,
		.poolSizeCount = 1,
		.pPoolSizes = &ps,
	};
	if ((r = p_vkCreateDescriptorPool(c->dev, &dpci, NULL, &k->dpool)) != VK_SUCCESS) {
		goto fail;
	}
	VkDescriptorSetAllocateInfo dsai = {
		.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
		.descriptorPool = k->dpool,
		.descriptorSetCount = 1,
		.pSetLayouts = &k->dsl,
	};
	if ((r = p_vkAllocateDescriptorSets(c->dev, &dsai, &k->set)) != VK_SUCCESS) {
		goto fail;
	}
	VkDescriptorBufferInfo dbi[8];
	VkWriteDescriptorSet w[8];
	for (uint32_t i = 0; i < nbuf; i++) {
		dbi[i] = (VkDescriptorBufferInfo){.buffer = bufs[i]->buf, .offset = 0, .range = VK_WHOLE_SIZE};
		w[i] = (VkWriteDescriptorSet){
			.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
			.dstSet = k->set,
			.dstBinding = i,
			.descriptorCount = 1,
			.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
			.pBufferInfo = &dbi[i],
		};
	}
	p_vkUpdateDescriptorSets(c->dev, nbuf, w, 0, NULL);
	*out = k;
	return VK_SUCCESS;
fail:
	pg_kernel_destroy(c, k);
	return r;
}

void pg_kernel_destroy(pg_ctx *c, pg_kernel *k) {
	if (!k) {
		return;
	}
	if (k->dpool) {
		p_vkDestroyDescriptorPool(c->dev, k->dpool, NULL);
	}
	if (k->pipe) {
		p_vkDestroyPipeline(c->dev, k->pipe, NULL);
	}
	if (k->layout) {
		p_vkDestroyPipelineLayout(c->dev, k->layout, NULL);
	}
	if (k->dsl) {
		p_vkDestroyDescriptorSetLayout(c->dev, k->dsl, NULL);
	}
	if (k->module) {
		p_vkDestroyShaderModule(c->dev, k->module, NULL);
	}
	free(k);
}

VkResult pg_dispatch(pg_ctx *c, pg_kernel *k, const void *push, uint32_t gx, uint32_t gy, uint32_t gz) {
	VkResult r;
	if ((r = p_vkResetCommandBuffer(c->cmd, 0)) != VK_SUCCESS) {
		return r;
	}
	VkCommandBufferBeginInfo bi = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
		.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
	};
	if ((r = p_vkBeginCommandBuffer(c->cmd, &bi)) != VK_SUCCESS) {
		return r;
	}
	p_vkCmdBindPipeline(c->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, k->pipe);
	p_vkCmdBindDescriptorSets(c->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, k->layout, 0, 1, &k->set, 0, NULL);
	if (k->pushSize) {
		p_vkCmdPushConstants(c->cmd, k->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, k->pushSize, push);
	}
	p_vkCmdDispatch(c->cmd, gx, gy, gz);
	VkMemoryBarrier mb = {
		.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
		.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
		.dstAccessMask = VK_ACCESS_HOST_READ_BIT,
	};
	p_vkCmdPipelineBarrier(c->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
	if ((r = p_vkEndCommandBuffer(c->cmd)) != VK_SUCCESS) {
		return r;
	}
	VkSubmitInfo si = {
		.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
		.commandBufferCount = 1,
		.pCommandBuffers = &c->cmd,
	};
	if ((r = p_vkResetFences(c->dev, 1, &c->fence)) != VK_SUCCESS) {
		return r;
	}
	if ((r = p_vkQueueSubmit(c->queue, 1, &si, c->fence)) != VK_SUCCESS) {
		return r;
	}
	return p_vkWaitForFences(c->dev, 1, &c->fence, VK_TRUE, UINT64_MAX);
}

const char *pg_result_name(VkResult r) {
	switch (r) {
#define R(x) case x: return #x
	R(VK_SUCCESS);
	R(VK_NOT_READY);
	R(VK_TIMEOUT);
	R(VK_INCOMPLETE);
	R(VK_ERROR_OUT_OF_HOST_MEMORY);
	R(VK_ERROR_OUT_OF_DEVICE_MEMORY);
	R(VK_ERROR_INITIALIZATION_FAILED);
	R(VK_ERROR_DEVICE_LOST);
	R(VK_ERROR_MEMORY_MAP_FAILED);
	R(VK_ERROR_LAYER_NOT_PRESENT);
	R(VK_ERROR_EXTENSION_NOT_PRESENT);
	R(VK_ERROR_FEATURE_NOT_PRESENT);
	R(VK_ERROR_INCOMPATIBLE_DRIVER);
	R(VK_ERROR_TOO_MANY_OBJECTS);
	R(VK_ERROR_FORMAT_NOT_SUPPORTED);
	R(VK_ERROR_UNKNOWN);
#undef R
	default:
		return "VK_ERROR_(other)";
	}
}
