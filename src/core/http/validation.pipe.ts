import { ArgumentMetadata, Type, ValidationError, ValidationPipe } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { FieldError, ProblemException } from './problem';

/** A field name worth naming back: the DTOs' own names look like this; anything else is not echoed. */
const NAMEABLE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$|^\d{1,6}$/;

function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((e) => {
    // Unknown keys are the client's input: an odd one is reported without its name.
    const name = NAMEABLE.test(e.property) ? e.property : '(unnamed)';
    const field = parent ? `${parent}.${name}` : name;
    const own = Object.values(e.constraints ?? {}).map((message) =>
      e.constraints?.whitelistValidation === message
        ? { field, message: `${field} is not allowed` }
        : { field, message: name === e.property ? message : `${field} is not valid` },
    );
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

/**
 * At most this many field errors go back: a body with thousands of unknown keys must not earn a
 * response of thousands of lines (docs/auth.md → Request limits).
 */
export const MAX_REPORTED_ERRORS = 20;

function capped(errors: FieldError[]): FieldError[] {
  if (errors.length <= MAX_REPORTED_ERRORS) return errors;
  return [
    ...errors.slice(0, MAX_REPORTED_ERRORS),
    { field: '*', message: `${errors.length - MAX_REPORTED_ERRORS} more errors not shown` },
  ];
}

/** A query or body with no member at all (`?` nothing, `{}`). */
function isEmptyObject(value: unknown): value is object {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  for (const _ in value) return false;
  return Object.getOwnPropertySymbols(value).length === 0;
}

/**
 * ValidationPipe, with one shortcut: an empty query or body (most GETs, `POST /auth/guest {}`)
 * against a DTO class is validated in full the first time only. Its outcome is the same every
 * time (the same class, the same empty input, no groups; the DTOs' rules are pure functions of
 * the value), so a class that accepts `{}` then gets a fresh instance built the same way
 * (class-transformer from `{}`) without class-validator's walk over its metadata, and a class
 * that refuses `{}` keeps going through the full pipe, which builds the same 400 problem.
 */
class StrictValidationPipe extends ValidationPipe {
  private readonly acceptsEmpty = new WeakMap<Type, boolean>();

  override transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    // Nothing to validate (a custom decorator's value such as the current user, a path parameter
    // typed string): the value as ValidationPipe gives it, without its two async frames. Every
    // route has such parameters, and every promise costs the request-context hooks their
    // allocation (docs/benchmarks.md → Per request, round 3). Nest awaits whatever a pipe returns.
    if (!metadata.metatype || !this.toValidate(metadata)) {
      return this.transformPrimitive(value, metadata) as Promise<unknown>;
    }
    return this.validated(value, metadata);
  }

  private async validated(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const type = metadata.metatype;
    if (
      type &&
      (metadata.type === 'query' || metadata.type === 'body') &&
      isEmptyObject(value) &&
      this.toValidate(metadata)
    ) {
      let accepts = this.acceptsEmpty.get(type);
      if (accepts === undefined) {
        accepts = await super.transform({}, metadata).then(
          () => true,
          () => false,
        );
        this.acceptsEmpty.set(type, accepts);
      }
      if (accepts) return plainToInstance(type, {}, this.transformOptions);
    }
    return super.transform(value, metadata);
  }
}

/** Strict: unknown fields are rejected, types are coerced only where DTOs say so. */
export function strictValidationPipe(): ValidationPipe {
  return new StrictValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => ProblemException.validation(capped(flatten(errors))),
  });
}
