package host

import (
	"encoding/json"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Vulkan is what a machine has installed for Vulkan, read from files alone
// (no library is loaded): the GPU render nodes, the loader libraries and
// the installable client drivers (ICDs) their manifests declare.
type Vulkan struct {
	RenderNodes []string    // /dev/dri/renderD128, ...
	Loaders     []VulkanLib // libvulkan.so.1 in the multiarch library directories
	ICDs        []VulkanICD
}

// VulkanLib is a Vulkan loader library and the architecture of the
// directory it is in.
type VulkanLib struct {
	Path   string // /usr/lib/aarch64-linux-gnu/libvulkan.so.1
	GOARCH string // arm64; "" for a directory without a triplet
}

// VulkanICD is one driver manifest (/usr/share/vulkan/icd.d/*.json).
type VulkanICD struct {
	Manifest   string // /usr/share/vulkan/icd.d/broadcom_icd.aarch64.json
	Driver     string // v3dv, lavapipe, radv, ... (from the manifest's name)
	Library    string // its library_path
	APIVersion string // its api_version
	// GOARCH is the architecture the driver is built for, from the
	// manifest's name (broadcom_icd.aarch64.json) or the library's
	// multiarch directory; "" when neither says.
	GOARCH string
	// Present reports whether an absolute library_path exists (a bare
	// file name is searched by the loader: counted as present).
	Present bool
	Err     string // why the manifest did not parse, if it did not
}

// VulkanICDDirs are where the Vulkan loader reads driver manifests on
// Debian (system-wide; the loader also reads $XDG_DATA_DIRS and ~/.local).
var VulkanICDDirs = []string{"/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d"}

// icdDrivers names Mesa's (and NVIDIA's) manifests by the driver's usual name.
var icdDrivers = map[string]string{
	"broadcom": "v3dv", "lvp": "lavapipe", "radeon": "radv", "intel": "anv", "intel_hasvk": "hasvk",
	"freedreno": "turnip", "panfrost": "panvk", "nouveau": "nvk", "virtio": "venus", "asahi": "honeykrisp",
	"nvidia": "nvidia", "powervr_mesa": "powervr", "dzn": "dozen", "gfxstream_vk": "gfxstream",
}

var icdNameRE = regexp.MustCompile(`^(.+?)_icd(?:\.([A-Za-z0-9_]+))?\.json$`)

// Vulkan reads the machine's Vulkan installation.
func (r *Root) Vulkan() Vulkan {
	var v Vulkan
	nodes, _ := r.Glob("/dev/dri/renderD*")
	slices.Sort(nodes)
	v.RenderNodes = nodes
	seen := map[string]bool{}
	for _, a := range arches {
		if seen[a.Triplet] {
			continue
		}
		seen[a.Triplet] = true
		for _, dir := range []string{"/usr/lib/", "/lib/"} {
			p := dir + a.Triplet + "/libvulkan.so.1"
			if r.exists(p) {
				v.Loaders = append(v.Loaders, VulkanLib{Path: p, GOARCH: a.GOARCH})
				break // merged /usr: /lib/<triplet> is the same directory
			}
		}
	}
	for _, p := range []string{"/usr/lib/libvulkan.so.1", "/usr/lib64/libvulkan.so.1", "/usr/local/lib/libvulkan.so.1"} {
		if r.exists(p) {
			v.Loaders = append(v.Loaders, VulkanLib{Path: p})
		}
	}
	for _, dir := range VulkanICDDirs {
		m, _ := r.Glob(dir + "/*.json")
		slices.Sort(m)
		for _, f := range m {
			v.ICDs = append(v.ICDs, r.readICD(f))
		}
	}
	return v
}

// exists reports whether p exists, without reading it (a library is
// large; a capture keeps only its ELF header).
func (r *Root) exists(p string) bool {
	r.note(p)
	_, err := os.Stat(r.Path(p))
	return err == nil
}

func (r *Root) readICD(manifest string) VulkanICD {
	icd := VulkanICD{Manifest: manifest}
	if m := icdNameRE.FindStringSubmatch(path.Base(manifest)); m != nil {
		icd.Driver = m[1]
		if d, ok := icdDrivers[m[1]]; ok {
			icd.Driver = d
		}
		if a, ok := ArchByUname(m[2]); ok && m[2] != "" {
			icd.GOARCH = a.GOARCH
		}
	} else {
		icd.Driver = strings.TrimSuffix(path.Base(manifest), ".json")
	}
	b, err := r.ReadFile(manifest)
	if err != nil {
		icd.Err = err.Error()
		return icd
	}
	var doc struct {
		ICD struct {
			LibraryPath string `json:"library_path"`
			APIVersion  string `json:"api_version"`
		} `json:"ICD"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		icd.Err = "not a Vulkan ICD manifest: " + err.Error()
		return icd
	}
	icd.Library, icd.APIVersion = doc.ICD.LibraryPath, doc.ICD.APIVersion
	if icd.Library == "" {
		icd.Err = "the manifest names no library_path"
		return icd
	}
	icd.Present = !path.IsAbs(icd.Library) || r.exists(icd.Library)
	if icd.GOARCH == "" {
		for _, a := range arches {
			if strings.Contains(icd.Library, "/"+a.Triplet+"/") {
				icd.GOARCH = a.GOARCH
				break
			}
		}
	}
	return icd
}

// ForArch returns the loaders and the drivers (manifests that parsed and
// whose library is present) usable by programs of goarch: those built for
// it, or whose architecture nothing says.
func (v Vulkan) ForArch(goarch string) (loaders []VulkanLib, icds []VulkanICD) {
	for _, l := range v.Loaders {
		if l.GOARCH == goarch || l.GOARCH == "" {
			loaders = append(loaders, l)
		}
	}
	for _, i := range v.ICDs {
		if i.Err == "" && i.Present && (i.GOARCH == goarch || i.GOARCH == "") {
			icds = append(icds, i)
		}
	}
	return loaders, icds
}

var piGenRE = regexp.MustCompile(`^Raspberry Pi (?:Compute Module )?(\d)`)

// PiVulkanDriver returns the Vulkan driver a Raspberry Pi of this
// device-tree model should have: "v3dv" for the Pi 4 and 5 families (Pi
// 4, 400, CM4; Pi 5, 500, CM5: V3D 4.2 and 7.1), "" for older Pis (no
// Vulkan driver) and other machines.
func PiVulkanDriver(model string) string {
	m := piGenRE.FindStringSubmatch(model)
	if m == nil {
		return ""
	}
	if m[1] == "4" || m[1] == "5" {
		return "v3dv"
	}
	return ""
}
