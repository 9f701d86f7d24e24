#!/usr/bin/env bash
# Runs both engine benchmarks on a GPU machine with full-size stand-in models.
#
#   scripts/gpu_bench.sh ORT_DIR [OUT_DIR]
#
# ORT_DIR holds an ONNX Runtime GPU build's libraries (libonnxruntime.so* and, for NVIDIA,
# libonnxruntime_providers_shared.so and libonnxruntime_providers_cuda.so; TensorRT's
# provider too when TensorRT is installed). CUDA and cuDNN come from the system or from pip's
# nvidia-* packages, whose lib folders are added to the library path. The full-size stand-ins
# (random weights at the real models' sizes) are generated under OUT_DIR (default
# ./gpu-bench) with python3, numpy and onnx. studio-server is taken from STUDIO_SERVER, else
# target/release/studio-server. Every figure is written as JSON to OUT_DIR, per device, with
# the CPU's in the same run as the baseline, and summarised at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 ORT_DIR [OUT_DIR]  (ORT_DIR: the folder holding libonnxruntime.so)" >&2
  exit 2
fi
ort_dir=$(cd "$1" && pwd)
out=${2:-gpu-bench}
mkdir -p "$out"
out=$(cd "$out" && pwd)
server=${STUDIO_SERVER:-target/release/studio-server}
if [ ! -x "$server" ]; then
  echo "no studio-server at $server (build it: cargo build --release -p studio-server)" >&2
  exit 2
fi

ort_lib=$(find "$ort_dir" -maxdepth 1 -name 'libonnxruntime.so*' ! -name '*providers*' | sort | tail -1)
if [ -z "$ort_lib" ]; then
  echo "no libonnxruntime.so in $ort_dir" >&2
  exit 2
fi
export ORT_DYLIB_PATH="$ort_lib"
nvidia_libs=$(python3 - <<'PY'
import glob, os, site
dirs = []
for base in site.getsitepackages() + [site.getusersitepackages()]:
    dirs += sorted(glob.glob(os.path.join(base, "nvidia", "*", "lib")))
print(":".join(dirs))
PY
)
export LD_LIBRARY_PATH="$ort_dir${nvidia_libs:+:$nvidia_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "gpu-bench: ONNX Runtime $ORT_DYLIB_PATH"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

faces="$out/models/face"
voices="$out/models/voice"
if [ ! -f "$faces/inswapper_128_fp16.onnx" ] || [ ! -f "$faces/bisenet_resnet_34.onnx" ]; then
  echo "gpu-bench: generating full-size face stand-ins in $faces"
  python3 tools/standin/make_standins.py --size full --out "$faces"
fi
if [ ! -f "$voices/synth_rvc_48k.onnx" ]; then
  echo "gpu-bench: generating full-size voice stand-ins in $voices"
  python3 scripts/standin_voice_models.py --full "$voices"
fi
config="$out/bench-config.json"
cat >"$config" <<JSON
{
  "servers": {"video": {"backend": "ort"}, "audio": {"backend": "ort"}},
  "voices": {
    "wokada-yin": {"name": "w-okada export, YIN", "kind": "neural",
                   "model": "$voices/synth_wokada_48k.onnx", "embedder": "$voices/contentvec.onnx"},
    "rvc-rmvpe": {"name": "RVC export, RMVPE", "kind": "neural",
                  "model": "$voices/synth_rvc_48k.onnx", "embedder": "$voices/contentvec.onnx",
                  "pitch": "rmvpe", "pitch_model": "$voices/rmvpe.onnx"}
  }
}
JSON

run() {
  local name=$1
  shift
  echo "gpu-bench: $name"
  if "$server" bench "$@" --config "$config" --json >"$out/$name.json" 2>"$out/$name.log"; then
    return 0
  fi
  echo "gpu-bench: $name failed (see $out/$name.log)" >&2
  rm -f "$out/$name.json"
}

# More `bench video` flags, if any, from BENCH_VIDEO_ARGS (split on spaces).
read -r -a video_args <<<"${BENCH_VIDEO_ARGS:-}"
for device in tensorrt:0 cuda:0 cpu; do
  tag=${device/:/-}
  run "video-$tag" video --backend ort --models "$faces" --frames "${FRAMES:-300}" --device "$device" \
    "${video_args[@]}"
done
# On the GPU providers: four faces in the picture, all swapped; the swapper in half precision;
# the occlusion and region masks; and the pre- and post-processing as graphs on the device
# (timed after the CPU path in the same run, each stage as a share of it).
for device in tensorrt:0 cuda:0; do
  tag=${device/:/-}
  frames=${FRAMES:-300}
  run "video-$tag-4faces" video --backend ort --models "$faces" --frames "$frames" \
    --device "$device" --faces 4 "${video_args[@]}"
  run "video-$tag-fp16" video --backend ort --models "$faces" --frames "$frames" \
    --device "$device" --swapper inswapper_128_fp16.onnx "${video_args[@]}"
  run "video-$tag-masks" video --backend ort --models "$faces" --frames "$frames" \
    --device "$device" --occlusion --region-mask "${video_args[@]}"
  run "video-$tag-graphs" video --backend ort --models "$faces" --frames "$frames" \
    --device "$device" --device-graphs "${video_args[@]}"
done
# CUDA graphs replay the swapper's and the detector's kernels with their inputs and outputs
# bound at fixed device addresses (the CUDA provider only).
run "video-cuda-0-cuda-graphs" video --backend ort --models "$faces" --frames "${FRAMES:-300}" \
  --device cuda:0 --cuda-graphs "${video_args[@]}"
for device in cuda:0 cpu; do
  tag=${device/:/-}
  run "audio-$tag" audio --voice wokada-yin --voice rvc-rmvpe --seconds "${SECONDS_OF_AUDIO:-10}" \
    --device "$device"
done

python3 - "$out" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    name = os.path.basename(path)[:-5]
    if name == "bench-config":
        continue
    with open(path) as f:
        report = json.load(f)
    print(f"== {name}")
    print(json.dumps(report, indent=1)[:4000])
PY
