"""Fake of comfy.samplers (names and signatures from comfy/samplers.py, v0.3.64).

``KSampler`` keeps the real constructor and ``sample`` signatures and the real control flow that
matters to callers: sigmas from ``steps`` and ``denoise`` (``set_steps``), the latent moved into
model space with ``latent_format.process_in``, ``transformer_options["sample_sigmas"]`` set,
every ``sampler_post_cfg_function`` applied to the prediction with the real ``args`` keys, the
callback called once per step as ``callback(i, denoised, x, total_steps)``, Euler steps, and
``process_out`` at the end. The "diffusion model" is ``model.model.fake_denoise(x, sigma, clean)``
when the test's model defines it, else an oracle that predicts the clean latent (so sampling
returns the input latent: an identity sampler).
"""

from __future__ import annotations

import torch

SAMPLER_NAMES = ["euler", "euler_ancestral", "heun", "dpmpp_2m", "dpmpp_2m_sde", "ddim", "uni_pc"]
SCHEDULER_NAMES = ["simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal",
                   "linear_quadratic", "kl_optimal"]
CALLS: list[dict] = []  # one record per KSampler.sample call, for assertions


def cfg_function(model, cond_pred, uncond_pred, cond_scale, x, timestep, model_options={}, cond=None, uncond=None):
    cfg_result = uncond_pred + (cond_pred - uncond_pred) * cond_scale
    for fn in model_options.get("sampler_post_cfg_function", []):
        args = {"denoised": cfg_result, "cond": cond, "uncond": uncond, "cond_scale": cond_scale, "model": model,
                "uncond_denoised": uncond_pred, "cond_denoised": cond_pred, "sigma": timestep,
                "model_options": model_options, "input": x}
        cfg_result = fn(args)
    return cfg_result


class KSampler:
    SCHEDULERS = SCHEDULER_NAMES
    SAMPLERS = SAMPLER_NAMES

    def __init__(self, model, steps, device, sampler=None, scheduler=None, denoise=None, model_options={}):
        self.model = model
        self.device = device
        if scheduler not in self.SCHEDULERS:
            scheduler = self.SCHEDULERS[0]
        if sampler not in self.SAMPLERS:
            sampler = self.SAMPLERS[0]
        self.scheduler = scheduler
        self.sampler = sampler
        self.set_steps(steps, denoise)
        self.denoise = denoise
        self.model_options = model_options

    def calculate_sigmas(self, steps):
        return torch.cat([torch.linspace(1.0, 0.05, steps), torch.zeros(1)])

    def set_steps(self, steps, denoise=None):
        self.steps = steps
        if denoise is None or denoise > 0.9999:
            self.sigmas = self.calculate_sigmas(steps)
        elif denoise <= 0.0:
            self.sigmas = torch.FloatTensor([])
        else:
            new_steps = int(steps / denoise)
            self.sigmas = self.calculate_sigmas(new_steps)[-(steps + 1):]

    def sample(self, noise, positive, negative, cfg, latent_image=None, start_step=None, last_step=None,
               force_full_denoise=False, denoise_mask=None, sigmas=None, callback=None, disable_pbar=False, seed=None):
        if sigmas is None:
            sigmas = self.sigmas
        CALLS.append({"seed": seed, "cfg": cfg, "sampler": self.sampler, "scheduler": self.scheduler,
                      "steps": self.steps, "positive": positive, "negative": negative, "shape": tuple(noise.shape),
                      "post_cfg": len(self.model_options.get("sampler_post_cfg_function", []))})
        if len(sigmas) == 0:
            return latent_image
        inner = self.model.model
        fmt = self.model.get_model_object("latent_format")
        clean = fmt.process_in(latent_image)
        options = dict(self.model_options)
        options["transformer_options"] = dict(options.get("transformer_options", {}), sample_sigmas=sigmas)
        x = clean + noise * sigmas[0]
        total = len(sigmas) - 1
        for i in range(total):
            s = sigmas[i]
            sigma = torch.full((x.shape[0],), float(s))
            pred = inner.fake_denoise(x, sigma, clean) if hasattr(inner, "fake_denoise") else clean
            denoised = cfg_function(inner, pred, pred, cfg, x, sigma, model_options=options, cond=positive,
                                    uncond=negative)
            if callback is not None:
                callback(i, denoised, x, total)
            x = denoised + (x - denoised) * (sigmas[i + 1] / s)
        return fmt.process_out(x)
