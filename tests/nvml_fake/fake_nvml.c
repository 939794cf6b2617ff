/*
 * A stand-in for libnvidia-ml.so.1 so the real pynvml can be exercised without a GPU.
 *
 * Every answer comes from an environment variable read at call time, so one build
 * serves every test. A variable set to an NVML error name (e.g. NOT_SUPPORTED,
 * GPU_IS_LOST) makes that call return the error instead of a value.
 *
 *   FAKE_NVML_INIT_ERROR                 error returned by nvmlInit*
 *   FAKE_NVML_DRIVER_VERSION             default 535.104.05
 *   FAKE_NVML_CUDA_VERSION               1000*major + 10*minor, default 12020
 *   FAKE_NVML_DEVICE_COUNT               default 1
 *   FAKE_NVML_DEVICE<i>_ERROR            error returned by every query on device i
 *   FAKE_NVML_DEVICE<i>_NAME             default "NVIDIA Fake GPU"
 *   FAKE_NVML_DEVICE<i>_UUID             default GPU-00000000-fake-<i>
 *   FAKE_NVML_DEVICE<i>_MEMORY_TOTAL_MB  default 24576
 *   FAKE_NVML_DEVICE<i>_MEMORY_FREE_MB   default 24000
 *   FAKE_NVML_DEVICE<i>_COMPUTE_CAPABILITY  "major.minor", default 8.6
 *   FAKE_NVML_DEVICE<i>_MIG_MODE         0 or 1, default 0
 *   FAKE_NVML_DEVICE<i>_BRAND            nvmlBrandType_t number, default 14 (NVIDIA, as an H100)
 *   FAKE_NVML_DEVICE<i>_RETIRED_PAGES_PENDING  0 or 1, default 0
 *   FAKE_NVML_DEVICE<i>_REMAPPED_ROWS    "corrected,uncorrected,pending,failed", default 0,0,0,0
 *   FAKE_NVML_DEVICE<i>_ECC_UNCORRECTED  volatile uncorrected ECC count, default 0
 *
 * Build: gcc -shared -fPIC -Wl,-soname,libnvidia-ml.so.1 -o libnvidia-ml.so.1 fake_nvml.c
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
typedef void *nvmlDevice_t;

typedef struct {
    unsigned long long total, free, used;
} nvmlMemory_t;

typedef struct {
    unsigned int version;
    unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;

#define NVML_SUCCESS 0
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_UNKNOWN 999
#define MIB (1024ULL * 1024ULL)

static const struct {
    const char *name;
    nvmlReturn_t code;
} errors[] = {
    {"UNINITIALIZED", 1},        {"INVALID_ARGUMENT", 2},     {"NOT_SUPPORTED", 3},
    {"NO_PERMISSION", 4},        {"NOT_FOUND", 6},            {"DRIVER_NOT_LOADED", 9},
    {"TIMEOUT", 10},             {"LIBRARY_NOT_FOUND", 12},   {"FUNCTION_NOT_FOUND", 13},
    {"CORRUPTED_INFOROM", 14},   {"GPU_IS_LOST", 15},         {"RESET_REQUIRED", 16},
    {"OPERATING_SYSTEM", 17},    {"LIB_RM_VERSION_MISMATCH", 18}, {"IN_USE", 19},
    {"MEMORY", 20},              {"NO_DATA", 21},             {"UNKNOWN", 999},
};

/* The error named by value, or NVML_SUCCESS when value is not an error name. */
static nvmlReturn_t error_named(const char *value) {
    size_t i;
    if (value == NULL) return NVML_SUCCESS;
    for (i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (strcmp(value, errors[i].name) == 0) return errors[i].code;
    return NVML_SUCCESS;
}

static unsigned int device_index(nvmlDevice_t device) {
    return (unsigned int)((uintptr_t)device - 1);
}

static const char *device_env(unsigned int index, const char *key) {
    char name[96];
    snprintf(name, sizeof name, "FAKE_NVML_DEVICE%u_%s", index, key);
    return getenv(name);
}

/* Looks up a device variable; *error is set when the device or the query must fail. */
static const char *device_value(nvmlDevice_t device, const char *key, nvmlReturn_t *error) {
    unsigned int index = device_index(device);
    const char *value = device_env(index, key);
    *error = error_named(device_env(index, "ERROR"));
    if (*error == NVML_SUCCESS) *error = error_named(value);
    return value;
}

static unsigned int device_count(void) {
    const char *value = getenv("FAKE_NVML_DEVICE_COUNT");
    return value ? (unsigned int)strtoul(value, NULL, 10) : 1;
}

static nvmlReturn_t copy_string(const char *value, char *out, unsigned int length) {
    if (strlen(value) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(out, value);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
    (void)flags;
    return error_named(getenv("FAKE_NVML_INIT_ERROR"));
}

nvmlReturn_t nvmlInit_v2(void) { return nvmlInitWithFlags(0); }

nvmlReturn_t nvmlInit(void) { return nvmlInitWithFlags(0); }

nvmlReturn_t nvmlShutdown(void) { return NVML_SUCCESS; }

const char *nvmlErrorString(nvmlReturn_t result) {
    size_t i;
    for (i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (errors[i].code == result) return errors[i].name;
    return "UNKNOWN_ERROR";
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    const char *value = getenv("FAKE_NVML_DRIVER_VERSION");
    nvmlReturn_t error = error_named(value);
    if (error != NVML_SUCCESS) return error;
    return copy_string(value ? value : "535.104.05", version, length);
}

nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *version) {
    const char *value = getenv("FAKE_NVML_CUDA_VERSION");
    nvmlReturn_t error = error_named(value);
    if (error != NVML_SUCCESS) return error;
    *version = value ? atoi(value) : 12020;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *version) {
    return nvmlSystemGetCudaDriverVersion(version);
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    *count = device_count();
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCount(unsigned int *count) { return nvmlDeviceGetCount_v2(count); }

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    nvmlReturn_t error;
    if (index >= device_count()) return NVML_ERROR_INVALID_ARGUMENT;
    error = error_named(device_env(index, "ERROR"));
    if (error != NVML_SUCCESS) return error;
    *device = (nvmlDevice_t)(uintptr_t)(index + 1);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device) {
    return nvmlDeviceGetHandleByIndex_v2(index, device);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
    nvmlReturn_t error;
    const char *value = device_value(device, "NAME", &error);
    if (error != NVML_SUCCESS) return error;
    return copy_string(value ? value : "NVIDIA Fake GPU", name, length);
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
    nvmlReturn_t error;
    char fallback[64];
    const char *value = device_value(device, "UUID", &error);
    if (error != NVML_SUCCESS) return error;
    snprintf(fallback, sizeof fallback, "GPU-00000000-fake-%u", device_index(device));
    return copy_string(value ? value : fallback, uuid, length);
}

static nvmlReturn_t memory(nvmlDevice_t device, unsigned long long *total,
                           unsigned long long *free) {
    nvmlReturn_t error;
    const char *total_mb = device_value(device, "MEMORY_TOTAL_MB", &error);
    const char *free_mb;
    if (error != NVML_SUCCESS) return error;
    free_mb = device_value(device, "MEMORY_FREE_MB", &error);
    if (error != NVML_SUCCESS) return error;
    *total = (total_mb ? strtoull(total_mb, NULL, 10) : 24576ULL) * MIB;
    *free = (free_mb ? strtoull(free_mb, NULL, 10) : 24000ULL) * MIB;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *info) {
    nvmlReturn_t error = memory(device, &info->total, &info->free);
    info->used = error == NVML_SUCCESS ? info->total - info->free : 0;
    return error;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *info) {
    nvmlReturn_t error = memory(device, &info->total, &info->free);
    info->reserved = 0;
    info->used = error == NVML_SUCCESS ? info->total - info->free : 0;
    return error;
}

nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major, int *minor) {
    nvmlReturn_t error;
    const char *value = device_value(device, "COMPUTE_CAPABILITY", &error);
    if (error != NVML_SUCCESS) return error;
    if (sscanf(value ? value : "8.6", "%d.%d", major, minor) != 2) return NVML_ERROR_UNKNOWN;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *current,
                                  unsigned int *pending) {
    nvmlReturn_t error;
    const char *value = device_value(device, "MIG_MODE", &error);
    if (error != NVML_SUCCESS) return error;
    *current = *pending = value ? (unsigned int)atoi(value) : 0;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetBrand(nvmlDevice_t device, int *brand) {
    nvmlReturn_t error;
    const char *value = device_value(device, "BRAND", &error);
    if (error != NVML_SUCCESS) return error;
    *brand = value ? atoi(value) : 14;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetRetiredPagesPendingStatus(nvmlDevice_t device, int *pending) {
    nvmlReturn_t error;
    const char *value = device_value(device, "RETIRED_PAGES_PENDING", &error);
    if (error != NVML_SUCCESS) return error;
    *pending = value ? atoi(value) : 0;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetRemappedRows(nvmlDevice_t device, unsigned int *corrected,
                                       unsigned int *uncorrected, unsigned int *pending,
                                       unsigned int *failed) {
    nvmlReturn_t error;
    const char *value = device_value(device, "REMAPPED_ROWS", &error);
    if (error != NVML_SUCCESS) return error;
    *corrected = *uncorrected = *pending = *failed = 0;
    if (value && sscanf(value, "%u,%u,%u,%u", corrected, uncorrected, pending, failed) != 4)
        return NVML_ERROR_UNKNOWN;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, int error_type, int counter_type,
                                         unsigned long long *count) {
    nvmlReturn_t error;
    const char *value = device_value(device, "ECC_UNCORRECTED", &error);
    if (error != NVML_SUCCESS) return error;
    /* Only the volatile uncorrected counter is modelled; the others read zero. */
    *count = (error_type == 1 && counter_type == 0 && value) ? strtoull(value, NULL, 10) : 0;
    return NVML_SUCCESS;
}
