import { ValidationError, ValidationPipe } from '@nestjs/common';
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

/** Strict: unknown fields are rejected, types are coerced only where DTOs say so. */
export function strictValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => ProblemException.validation(capped(flatten(errors))),
  });
}
