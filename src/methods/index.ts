// The methods llp trains, by name. Adding one is adding a module beside these and a line here.
import type { Config } from "../config.js";
import { DeepCoTraining } from "./dct.js";
import { DLPMethod } from "./dlp.js";
import { DMT } from "./dmt.js";
import { FixMatch } from "./fixmatch.js";
import { IRKnn } from "./ir-knn.js";
import { LocalAggregation } from "./la.js";
import { LLP } from "./llp.js";
import { MeanTeacher } from "./mean-teacher.js";
import type { Method, MethodContext } from "./method.js";
import { PseudoLabel } from "./pseudo-label.js";
import { S4LRotation } from "./s4l-rotation.js";
import { Supervised } from "./supervised.js";
import { VAT } from "./vat.js";

export type { Method, MethodContext, StepStats, ViewedBatch } from "./method.js";

export const METHODS: Record<Config["method"], (ctx: MethodContext) => Method> = {
  supervised: (ctx) => new Supervised(ctx),
  "mean-teacher": (ctx) => new MeanTeacher(ctx),
  "pseudo-label": (ctx) => new PseudoLabel(ctx),
  fixmatch: (ctx) => new FixMatch(ctx),
  llp: (ctx) => new LLP(ctx),
  "ir-knn": (ctx) => new IRKnn(ctx),
  vat: (ctx) => new VAT(ctx, "vat"),
  "vat-em": (ctx) => new VAT(ctx, "vat-em"),
  "s4l-rotation": (ctx) => new S4LRotation(ctx),
  dlp: (ctx) => new DLPMethod(ctx),
  dmt: (ctx) => new DMT(ctx),
  la: (ctx) => new LocalAggregation(ctx),
  dct: (ctx) => new DeepCoTraining(ctx),
};

export function createMethod(ctx: MethodContext): Method {
  return METHODS[ctx.cfg.method](ctx);
}
