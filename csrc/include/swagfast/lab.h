// sRGB (D65) -> CIELAB, as skimage.color.rgb2lab: L in [0, 100], a, b about [-128, 127].
//
// The sRGB linearisation is computed in double and rounded to float; the rest is float32
// arithmetic with a branch-free cube root (sqrt(sqrt(t)) refined by three Halley steps, within
// 3e-7 relative of cbrt), so the CPU loop vectorises and every backend rounds the same way
// (the CPU and CUDA builds disable FMA contraction). Differences to scikit-image: < 2e-3.
#pragma once

#include <cmath>

#include "swagfast/common.h"

namespace swagfast {

// ((c + 0.055) / 1.055)^2.4 as t^2 (t^(1/5))^2, the fifth root by four Newton steps from a
// quadratic first guess: only +, *, / in double (no libm pow), so the loop vectorises and every
// backend rounds alike. Rounded to float it equals float(pow(t, 2.4)) for every float32 c in
// (0.04045, 1]: all 39,473,434 of them were checked once against glibc's pow, and
// tests/test_slic.py checks 2M of them on every run.
SWAGFAST_HD float srgb_to_linear(float c) {
  const double v = c;
  const double t = (v + 0.055) / 1.055;
  double r = (-0.33609221 * t + 0.73817885) * t + 0.585563;
  for (int i = 0; i < 4; ++i) {
    const double r2 = r * r;
    r = (4.0 * r + t / (r2 * r2)) / 5.0;
  }
  return static_cast<float>(v > 0.04045 ? (t * t) * (r * r) : v / 12.92);
}

SWAGFAST_HD float cbrt_halley(float t) {
  float y = sqrtf(sqrtf(t));
  for (int i = 0; i < 3; ++i) {
    const float y3 = y * y * y;
    y = y * (y3 + 2.0f * t) / (2.0f * y3 + t);
  }
  return y;
}

SWAGFAST_HD float lab_f(float t) {
  const float linear = 7.787f * t + 16.0f / 116.0f;
  const float root = cbrt_halley(t > 0.0f ? t : 1.0f);  // evaluated on both sides: no branch
  return t > 0.008856f ? root : linear;
}

// Linear RGB -> L, a, b.
SWAGFAST_HD void linear_rgb_to_lab(float R, float G, float B, float& L, float& a, float& b) {
  const float X = (0.412453f * R + 0.357580f * G + 0.180423f * B) / 0.95047f;
  const float Y = 0.212671f * R + 0.715160f * G + 0.072169f * B;
  const float Z = (0.019334f * R + 0.119193f * G + 0.950227f * B) / 1.08883f;
  const float fx = lab_f(X), fy = lab_f(Y), fz = lab_f(Z);
  L = 116.0f * fy - 16.0f;
  a = 500.0f * (fx - fy);
  b = 200.0f * (fy - fz);
}

// rgb in [0, 1]; writes L, a, b.
SWAGFAST_HD void rgb_to_lab(float r, float g, float b, float* lab) {
  linear_rgb_to_lab(srgb_to_linear(r), srgb_to_linear(g), srgb_to_linear(b), lab[0], lab[1], lab[2]);
}

}  // namespace swagfast
