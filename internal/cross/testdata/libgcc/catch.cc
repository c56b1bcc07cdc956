#include <cstring>
#include <stdexcept>

extern "C" int cxx_catch(int n) {
	try {
		if (n > 0) throw std::runtime_error("boom");
	} catch (const std::exception &e) {
		return (int)std::strlen(e.what());
	}
	return 0;
}
