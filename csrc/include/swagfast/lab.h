// sRGB (D65) -> CIELAB, as skimage.color.rgb2lab: L in [0, 100], a, b about [-128, 127].
#pragma once

#include <cmath>

#include "swagfast/common.h"

namespace swagfast {

SWAGFAST_HD double srgb_to_linear(double c) {
  return c > 0.04045 ? pow((c + 0.055) / 1.055, 2.4) : c / 12.92;
}

SWAGFAST_HD double lab_f(double t) {
  return t > 0.008856 ? cbrt(t) : 7.787 * t + 16.0 / 116.0;
}

// Linear RGB -> L, a, b.
SWAGFAST_HD void linear_rgb_to_lab(double R, double G, double B, float* lab) {
  const double X = (0.412453 * R + 0.357580 * G + 0.180423 * B) / 0.95047;
  const double Y = 0.212671 * R + 0.715160 * G + 0.072169 * B;
  const double Z = (0.019334 * R + 0.119193 * G + 0.950227 * B) / 1.08883;
  const double fx = lab_f(X), fy = lab_f(Y), fz = lab_f(Z);
  lab[0] = static_cast<float>(116.0 * fy - 16.0);
  lab[1] = static_cast<float>(500.0 * (fx - fy));
  lab[2] = static_cast<float>(200.0 * (fy - fz));
}

// rgb in [0, 1]; writes L, a, b.
SWAGFAST_HD void rgb_to_lab(float r, float g, float b, float* lab) {
  linear_rgb_to_lab(srgb_to_linear(r), srgb_to_linear(g), srgb_to_linear(b), lab);
}

}  // namespace swagfast
