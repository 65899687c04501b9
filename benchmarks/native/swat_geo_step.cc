// SWaT-Geo's negative log-likelihood, its gradient and E[Y | x] in one pass per row.
//
// Benchmark-only (benchmarks/native_kernel_bound.py): it measures what a hand-fused
// kernel would save against the compiled XLA loss of wt_keras.heads.BucketizedGeometricHead,
// whose formulas (wt_keras/ops/swat.py) it repeats; the package never loads it. Hand-written
// because no maintained library fuses a per-row loss, gradient and Horner sum on the CPU:
// XLA writes each shared intermediate as its own [B, K] pass.
//
// Per row, with h_m = −log σ(z_m) (floored at −log σ(40) inside E), bucket m of lower
// edge l_m and width w_m (the last bucket open, w = 0):
//   loss = Σ_m (y_m + n_m) h_m + n_m z_m,  y_m = clip(Y − l_m, 0, w_m),  n_m = 1[Y in m]
//   ∂loss/∂z_m = (y_m + n_m) σ(z_m) − y_m
//   E = Σ_m R_m t_m by Horner's rule, s_m = e^{−w_m h_m}, R_m = Π_{i<m} s_i,
//       t_m = e^{min(z_m, 40)} (1 − s_m), the open bucket's t = e^{min(z, max_tail_logit)}.
// Built with -ffast-math so that GCC calls glibc's vector exp/log1p/expm1 (libmvec).
#include <algorithm>
#include <cmath>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"

using namespace tensorflow;  // NOLINT: an op library's usual form

REGISTER_OP("SwatGeoStep")
    .Input("logits: float")
    .Input("units: float")
    .Input("lower: float")
    .Input("widths: float")
    .Attr("max_tail_logit: float")
    .Output("loss: float")
    .Output("gradient: float")
    .Output("expected_units: float")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      shape_inference::ShapeHandle logits;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 2, &logits));
      c->set_output(0, c->Vector(c->Dim(logits, 0)));
      c->set_output(1, logits);
      c->set_output(2, c->Vector(c->Dim(logits, 0)));
      return OkStatus();
    });

namespace {

constexpr float kFiniteCap = 40.0f;
// Independent Horner chains per row: a multiply-add's latency hidden by the others.
constexpr int kChains = 8;

// Arguments are clamped where float32 results no longer change (e^{−80} next to 1),
// which keeps libmvec on its vector path. Scalar helpers only: GCC vectorizes the loop
// below through them (a struct of results would stay in memory and stop it).
inline float SmallExp(float z) { return expf(std::max(-fabsf(z), -80.0f)); }
inline float NegLogSigmoid(float z, float small) { return std::max(-z, 0.0f) + log1pf(small); }
inline float Sigmoid(float z, float small) {
  const float inverse = 1.0f / (1.0f + small);
  return z >= 0.0f ? inverse : small * inverse;
}

void Row(const float* z, float units, const float* lower, const float* widths, int64_t width,
         float tail_cap, float min_hazard, float* gradient, float* stay, float* term,
         float* loss_out, float* expected_out) {
  const int64_t finite = width - 1;
  float loss = 0.0f;
#pragma omp simd reduction(+ : loss)
  for (int64_t m = 0; m < finite; ++m) {
    const float small = SmallExp(z[m]);
    const float neg_log_p = NegLogSigmoid(z[m], small);
    const float stays = std::min(std::max(units - lower[m], 0.0f), widths[m]);
    const float exits = (units >= lower[m] && units < lower[m] + widths[m]) ? 1.0f : 0.0f;
    loss += (stays + exits) * neg_log_p + exits * z[m];
    gradient[m] = (stays + exits) * Sigmoid(z[m], small) - stays;
    const float expm1_log_stay =
        expm1f(std::max(-widths[m] * std::max(neg_log_p, min_hazard), -20.0f));
    stay[m] = 1.0f + expm1_log_stay;
    term[m] = expf(std::min(z[m], kFiniteCap)) * -expm1_log_stay;
  }
  // The open bucket [t_K, ∞): no end, so no stay factor; its term is e^{min(z, cap)}.
  const float small = SmallExp(z[finite]);
  const float stays = std::max(units - lower[finite], 0.0f);
  const float exits = units >= lower[finite] ? 1.0f : 0.0f;
  loss += (stays + exits) * NegLogSigmoid(z[finite], small) + exits * z[finite];
  gradient[finite] = (stays + exits) * Sigmoid(z[finite], small) - stays;
  stay[finite] = 1.0f;
  term[finite] = expf(std::min(z[finite], tail_cap));

  // Chain c sums its segment [c·L, (c + 1)·L) and its product of stays; then the segments.
  const int64_t length = (width + kChains - 1) / kChains;
  float sum[kChains], product[kChains];
  for (int c = 0; c < kChains; ++c) sum[c] = 0.0f, product[c] = 1.0f;
  for (int64_t i = length - 1; i >= 0; --i) {
    for (int c = 0; c < kChains; ++c) {
      const int64_t m = c * length + i;
      if (m < width) sum[c] = term[m] + stay[m] * sum[c], product[c] *= stay[m];
    }
  }
  float expected = 0.0f;
  for (int c = kChains - 1; c >= 0; --c) expected = sum[c] + product[c] * expected;
  *loss_out = loss;
  *expected_out = expected;
}

}  // namespace

class SwatGeoStepOp : public OpKernel {
 public:
  explicit SwatGeoStepOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("max_tail_logit", &max_tail_logit_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& logits = context->input(0);
    const int64_t rows = logits.dim_size(0), width = logits.dim_size(1);
    OP_REQUIRES(context, width >= 1 && context->input(2).NumElements() == width &&
                             context->input(3).NumElements() == width &&
                             context->input(1).NumElements() == rows,
                errors::InvalidArgument("SwatGeoStep: logits [B, K+1], units [B], lower and "
                                        "widths [K+1] expected"));
    Tensor *loss, *gradient, *expected;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({rows}), &loss));
    OP_REQUIRES_OK(context, context->allocate_output(1, logits.shape(), &gradient));
    OP_REQUIRES_OK(context, context->allocate_output(2, TensorShape({rows}), &expected));
    const float* z = logits.flat<float>().data();
    const float* units = context->input(1).flat<float>().data();
    const float* lower = context->input(2).flat<float>().data();
    const float* widths = context->input(3).flat<float>().data();
    float* loss_data = loss->flat<float>().data();
    float* gradient_data = gradient->flat<float>().data();
    float* expected_data = expected->flat<float>().data();
    const float tail_cap = max_tail_logit_;
    const float min_hazard = std::log1p(std::exp(-kFiniteCap));
    auto rows_from_to = [&](int64_t begin, int64_t end) {
      std::vector<float> stay(width), term(width);
      for (int64_t b = begin; b < end; ++b) {
        Row(z + b * width, units[b], lower, widths, width, tail_cap, min_hazard,
            gradient_data + b * width, stay.data(), term.data(), loss_data + b,
            expected_data + b);
      }
    };
    auto* workers = context->device()->tensorflow_cpu_worker_threads();
    Shard(workers->num_threads, workers->workers, rows, 40 * width, rows_from_to);
  }

 private:
  float max_tail_logit_;
};

REGISTER_KERNEL_BUILDER(Name("SwatGeoStep").Device(DEVICE_CPU), SwatGeoStepOp);
